package boltstore

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// BenchmarkOpenCheck1M measures what a start of 'qredge serve' costs on a
// store of 1,000,000 links: the page check of Open, the load of every
// link (ForEachLink, which serve does anyway), and for comparison bbolt's
// own tx.Check. Run it alone, once:
//
//	go test -run '^$' -bench OpenCheck1M -benchtime 1x ./store/boltstore
func BenchmarkOpenCheck1M(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	db, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	mustSeed(b, db, n)
	db.Close()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		db, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		open := time.Since(start)
		start = time.Now()
		links := 0
		if err := db.ForEachLink(ctx, func(*store.Link) error { links++; return nil }); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		start = time.Now()
		err = db.Bolt().View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		boltCheck := time.Since(start)
		rep := db.Report()
		b.Logf("%d links, file %d MiB: page check at Open %v (Open in all %v), loading the links %v, bbolt tx.Check %v",
			links, rep.Size>>20, rep.Took.Round(time.Millisecond), open.Round(time.Millisecond), load.Round(time.Millisecond), boltCheck.Round(time.Millisecond))
		b.ReportMetric(float64(rep.Took.Milliseconds()), "check-ms")
		b.ReportMetric(float64(load.Milliseconds()), "load-ms")
		b.ReportMetric(float64(boltCheck.Milliseconds()), "txcheck-ms")
		db.Close()
	}
}
