package localagg

import (
	"bytes"
	"context"
	"fmt"

	"github.com/axiomhq/hyperloglog"
	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

func (a *Aggregator) checkQuery(ctx context.Context, q store.StatsQuery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := a.unavailable(); err != nil {
		return err
	}
	if q.Granularity > store.Day {
		return fmt.Errorf("BUG: stats query with granularity %d", q.Granularity)
	}
	return nil
}

// LinkStats implements store.StatsReader: the counters of the link's
// buckets in range, and its unique visitors from the buckets' sketches
// (merged for the whole range).
func (a *Aggregator) LinkStats(ctx context.Context, q store.StatsQuery) (*store.LinkStats, error) {
	if err := a.checkQuery(ctx, q); err != nil {
		return nil, err
	}
	first, n := q.Buckets()
	w := q.Granularity.Seconds()
	// The link's own aggregates, and for a link with an identity the
	// legacy ones of its code from the bucket of its creation on.
	links := []string{aggregate.QueryLinkKey(q)}
	if legacy := aggregate.LinkKey(q.Domain, q.Code, 0); links[0] != legacy {
		links = append(links, legacy)
	}
	legacyFrom := aggregate.LegacyFrom(q)
	buckets := make([]map[string]int64, n)
	uniques := make([]int64, n)
	var all hyperloglog.Sketch // zero value: takes the first merged sketch's precision
	// The file and what is counted in memory, at one instant: a flush
	// waits for the read.
	a.pmu.RLock()
	defer a.pmu.RUnlock()
	err := a.guard("reading stats", func() error {
		return a.db.View(func(tx *bolt.Tx) error {
			st, un := tx.Bucket(bucketStats), tx.Bucket(bucketUniq)
			for i := range n {
				if i%1024 == 1023 && ctx.Err() != nil {
					return ctx.Err()
				}
				start := first + int64(i)*w
				var bucket hyperloglog.Sketch
				for j, link := range links {
					if j > 0 && start < legacyFrom {
						continue
					}
					bk := aggregate.BucketKey{G: q.Granularity, Start: start, Link: link}
					if m := a.pend.Counts[bk]; m != nil {
						if buckets[i] == nil {
							buckets[i] = map[string]int64{}
						}
						for f, v := range m {
							buckets[i][f] += v
						}
					}
					if vis := a.pend.Uniques[bk]; vis != nil {
						hs := vis.All
						if q.ExcludeBots {
							hs = vis.Human
						}
						if len(hs) > 0 {
							sk := hyperloglog.New14()
							for _, h := range hs {
								sk.InsertHash(h)
							}
							if err := bucket.Merge(sk); err != nil {
								return err
							}
							if err := all.Merge(sk); err != nil {
								return err
							}
						}
					}
					k := bucketKey(q.Granularity, start, link)
					if v := st.Get(k); v != nil {
						m, err := decodeCounts(v, buckets[i])
						if err != nil {
							return fmt.Errorf("%s bucket %d: %w", q.Granularity, start, err)
						}
						buckets[i] = m
					}
					v := un.Get(k)
					if v == nil {
						continue
					}
					enc, human, err := splitSketches(v)
					if err != nil {
						return err
					}
					if q.ExcludeBots {
						enc = human
					}
					sk, err := decodeSketch(enc)
					if err != nil {
						return err
					}
					if sk == nil {
						continue // no human visitors in the bucket
					}
					if err := bucket.Merge(sk); err != nil {
						return err
					}
					if err := all.Merge(sk); err != nil {
						return err
					}
				}
				uniques[i] = int64(bucket.Estimate())
			}
			return nil
		})
	})
	if isDamage(err) {
		return nil, a.unavailable()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the stats of %q: %w", q.Code, err)
	}
	return aggregate.Assemble(q, buckets, uniques, int64(all.Estimate())), nil
}

// Top implements store.StatsReader: the scans of every link over the
// buckets in range, one cursor pass over them.
func (a *Aggregator) Top(ctx context.Context, q store.StatsQuery) (*store.TopStats, error) {
	if err := a.checkQuery(ctx, q); err != nil {
		return nil, err
	}
	first, n := q.Buckets()
	totals := map[string]int64{}
	a.pmu.RLock()
	defer a.pmu.RUnlock()
	end := first + int64(n)*q.Granularity.Seconds()
	for bk, m := range a.pend.Counts {
		if bk.G == q.Granularity && bk.Start >= first && bk.Start < end {
			if t := aggregate.Total(m, q.ExcludeBots); t > 0 {
				totals[bk.Link] += t
			}
		}
	}
	if n > 0 {
		lo := bucketPrefix(nil, q.Granularity, first)
		hi := bucketPrefix(nil, q.Granularity, first+int64(n)*q.Granularity.Seconds())
		err := a.guard("reading the top links", func() error {
			return a.db.View(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketStats).Cursor()
				i := 0
				for k, v := c.Seek(lo); k != nil && bytes.Compare(k, hi) < 0; k, v = c.Next() {
					if i++; i%4096 == 0 && ctx.Err() != nil {
						return ctx.Err()
					}
					h, b, _, err := decodeTotals(v)
					if err != nil {
						return err
					}
					if q.ExcludeBots {
						b = 0
					}
					if h+b > 0 {
						totals[string(k[prefixLen:])] += h + b
					}
				}
				return nil
			})
		})
		if isDamage(err) {
			return nil, a.unavailable()
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read the top links: %w", err)
		}
	}
	return aggregate.AssembleTop(q, totals), nil
}
