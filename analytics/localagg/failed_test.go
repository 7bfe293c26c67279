package localagg

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

// TestDamagedStatsFailNotPanic damages the pages of the stats bucket
// under a stopped aggregator: the next one fails the stats store when it
// meets them (pruning runs first) instead of panicking, and every read
// answers EUNAVAILABLE naming the damage.
func TestDamagedStatsFailNotPanic(t *testing.T) {
	dir := t.TempDir()
	e := mustOpen(t, dir, testConfig(), 1<<20)
	evs := genEvents(20000, 7, 30*24*time.Hour)
	appendRecords(t, e.sp, encodeEvents(evs), 500)
	e.a.Start()
	e.waitApplied(t, len(evs))
	var root uint64
	e.db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucketStats).Root())
		return nil
	})
	e.close()
	if root < 2 {
		t.Fatalf("stats bucket root %d: too small a fixture", root)
	}
	f, err := os.OpenFile(filepath.Join(dir, "qredge.db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096-16)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, int64(root)*4096+16); err != nil {
		t.Fatal(err)
	}
	f.Close()

	e = mustOpen(t, dir, testConfig(), 1<<20)
	e.a.Start()
	testwait.For(t, 10*time.Second, "the aggregator to fail on the damaged stats", func() bool { return e.a.Failed() != nil })
	ctx := context.Background()
	q := store.StatsQuery{Code: "promo", Granularity: store.Day, From: base.Add(-time.Hour), To: base.Add(40 * 24 * time.Hour)}
	_, err1 := e.a.LinkStats(ctx, q)
	_, err2 := e.a.Top(ctx, q)
	_, err3 := e.a.PurgeStats(ctx, "", "promo")
	for _, err := range []error{err1, err2, err3} {
		if store.ErrorCode(err) != store.EUNAVAILABLE || !strings.Contains(err.Error(), "stats store is damaged") {
			t.Fatalf("read after the damage: %v, want EUNAVAILABLE naming the damage", err)
		}
	}
}

// TestOpenDamagedConfig: damage found before Open (the check at start)
// fails the aggregator without touching its buckets.
func TestOpenDamagedConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Damaged = errors.New("bucket \"stats\": page 12 is used twice")
	e := mustOpen(t, t.TempDir(), cfg, 1<<20)
	e.a.Start()
	if err := e.a.Failed(); err == nil || !strings.Contains(err.Error(), "page 12") {
		t.Fatalf("Failed() = %v", err)
	}
	if _, err := e.a.Top(context.Background(), store.StatsQuery{Granularity: store.Day, From: base, To: base.Add(time.Hour)}); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("Top = %v", err)
	}
}
