package localagg

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

var _ store.StatsPurger = (*Aggregator)(nil)

// PurgeStats implements store.StatsPurger: it deletes every bucket's
// counters and visitor sketches of the link (of every link the code and
// domain had), in one transaction that
// leaves the spool position alone. Scans of the link still in the spool
// are counted again when applied; deleting the link first stops new ones.
func (a *Aggregator) PurgeStats(ctx context.Context, domain, code string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := a.unavailable(); err != nil {
		return 0, err
	}
	// Every link of the code and domain: the legacy one, and those with
	// an identity (the store's key, NUL, the creation time).
	link := []byte(store.LinkKey(domain, code))
	n := 0
	// What is counted in memory goes too, or the next flush would bring
	// it back.
	a.pmu.Lock()
	defer a.pmu.Unlock()
	for bk := range a.pend.Counts {
		if c, d, _ := aggregate.SplitLinkKey(bk.Link); c == code && d == domain {
			delete(a.pend.Counts, bk)
		}
	}
	for bk := range a.pend.Uniques {
		if c, d, _ := aggregate.SplitLinkKey(bk.Link); c == code && d == domain {
			delete(a.pend.Uniques, bk)
		}
	}
	err := a.guard("purging stats", func() error {
		return a.db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketStats, bucketUniq} {
				c := tx.Bucket(name).Cursor()
				for k, _ := c.First(); k != nil; {
					if rest, ok := bytes.CutPrefix(k[min(prefixLen, len(k)):], link); ok && (len(rest) == 0 || rest[0] == 0) {
						next := bytes.Clone(k)
						if err := c.Delete(); err != nil {
							return err
						}
						n++
						k, _ = c.Seek(next) // after Delete, Next would skip a key
						continue
					}
					k, _ = c.Next()
				}
			}
			return nil
		})
	})
	if isDamage(err) {
		return 0, a.unavailable()
	}
	return n, err
}
