package localagg

import (
	"context"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/internal/ticker"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/store"
)

// Scan limits in the embedded mode. The hot path admits the scans of a
// limited link through a redirect.ScanCounter, exactly; its counts are
// saved in the bbolt file every second and when the aggregator closes,
// and a count not in the file starts from the link's stats (the scans
// before it had a limit). After a crash, the scans admitted in its last
// second are admitted again (at most a second's worth past the limit).

// bucketScans maps a link's identity (key NUL created, 8 bytes) to the
// scans admitted toward its limit (8 bytes).
var bucketScans = []byte("scanlimits")

// saveEvery is how often the admitted counts are saved.
const saveEvery = time.Second

// Limiter returns the scan limiter of the hot path. A link that reaches
// its limit is marked in links (store.MarkScanLimitReached), so the API
// shows it. Call it once, before Start.
func (a *Aggregator) Limiter(links store.LinkStore) *redirect.ScanCounter {
	c := &redirect.ScanCounter{Load: a.loadScans}
	c.Reached = func(key string, created, count int64, bots bool) {
		code, domain, _ := strings.Cut(key, "\x00")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := store.MarkScanLimitReached(ctx, links, domain, code, created, count, bots, a.cfg.Now()); err != nil {
			a.log.Warn("cannot mark a link's scan limit reached", "code", code, "domain", domain, "err", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker.Every(ctx, saveEvery, func() { a.saveScans(c.Dirty()) })
		a.saveScans(c.Dirty())
	}()
	a.stopLimiter = func() { cancel(); wg.Wait() }
	return c
}

func scanKey(key string, created int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(key), 0), uint64(created))
}

// loadScans is the count a link's limit starts from: the saved one, or
// the link's stats when none was saved.
func (a *Aggregator) loadScans(key string, created int64, bots bool) int64 {
	var saved int64 = -1
	a.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketScans); b != nil {
			if v := b.Get(scanKey(key, created)); len(v) == 8 {
				saved = int64(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	if saved >= 0 {
		return saved
	}
	code, domain, _ := strings.Cut(key, "\x00")
	st, err := a.LinkStats(context.Background(), store.LimitQuery(domain, code, time.Unix(0, created), bots, a.cfg.Now()))
	if err != nil {
		a.log.Warn("cannot read a limited link's stats: its count starts at 0", "code", code, "err", err)
		return 0
	}
	return store.ScansTowardLimit(&st.Stats)
}

func (a *Aggregator) saveScans(counts map[redirect.ScanCountKey]int64) {
	if len(counts) == 0 {
		return
	}
	err := a.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketScans)
		if err != nil {
			return err
		}
		for k, n := range counts {
			if err := b.Put(scanKey(k.Key, k.Created), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.log.Error("cannot save the scan counts of limited links", "links", len(counts), "err", err)
	}
}
