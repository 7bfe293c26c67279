package boltstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/qredge/qredge/store"
)

var sinkLinks atomic.Int64

// BenchmarkForEachLink1M measures what 'qredge serve' spends reading the
// links of a store of 1,000,000 at start (fn does nothing: the redirect
// table's build is not counted), with the records in the binary form and
// in the JSON form of older files. Run it alone, once:
//
//	go test -run '^$' -bench ForEachLink1M -benchtime 3x ./store/boltstore
func BenchmarkForEachLink1M(b *testing.B) {
	const n = 1_000_000
	db := mustOpen(b, b.TempDir())
	mustSeed(b, db, n)
	scan := func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			links := 0
			if err := db.ForEachLink(ctx, func(l *store.Link) error { links += len(l.Code); return nil }); err != nil {
				b.Fatal(err)
			}
			sinkLinks.Add(int64(links))
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/link")
	}
	b.Run("binary", scan)
	toJSON(b, db)
	b.Run("json", scan)
}

// BenchmarkGetLink reads one link at a time, from many goroutines, in both
// forms.
func BenchmarkGetLink(b *testing.B) {
	const n = 10_000
	for _, form := range []string{"binary", "json"} {
		b.Run(form, func(b *testing.B) {
			db := mustOpen(b, b.TempDir())
			rich := []*store.Link{{Code: "rich", Destination: "https://example.com/", Tags: []string{"a", "b"},
				Variants: []store.Variant{{Name: "a", Destination: "https://example.com/a", Weight: 1}, {Name: "b", Destination: "https://example.com/b", Weight: 1}}}}
			mustSeed(b, db, n)
			if _, _, err := db.CreateLinks(context.Background(), rich, true); err != nil {
				b.Fatal(err)
			}
			if form == "json" {
				toJSON(b, db)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 1))
				ctx := context.Background()
				sink := 0
				for pb.Next() {
					code := "rich"
					if r.IntN(2) == 0 {
						code = fmt.Sprintf("c%07d", r.IntN(n))
					}
					l, err := db.GetLink(ctx, "", code)
					if err != nil {
						b.Fatal(err)
					}
					sink += len(l.Destination)
				}
				sinkLinks.Add(int64(sink))
			})
		})
	}
}
