package localagg

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/store"
)

// benchRecords returns encoded events as records of the pipeline's batch
// size, over 200 links and 5000 visitors. Live traffic has its events in
// time order over span (a chunk touches few buckets); a backfill has them
// scattered at random over a week (nearly every event a new minute key).
func benchRecords(n int, live bool) [][][]byte {
	evs := genEvents(n, 42, 7*24*time.Hour)
	for i := range evs {
		evs[i].Key = store.LinkKey("", fmt.Sprintf("link%d", i%200))
		if live {
			evs[i].Time = base.Add(time.Duration(i) * time.Millisecond).UnixNano()
		}
	}
	recs := encodeEvents(evs)
	var out [][][]byte
	for len(recs) > 0 {
		k := min(1000, len(recs))
		out = append(out, recs[:k])
		recs = recs[k:]
	}
	return out
}

// BenchmarkApply measures the apply path (decode, delta, one bbolt
// transaction with its fsync) with the default chunk of 5000 events.
func BenchmarkApply(b *testing.B) {
	for _, live := range []bool{true, false} {
		name := "backfill"
		if live {
			name = "live"
		}
		b.Run(name, func(b *testing.B) {
			e := mustOpen(b, b.TempDir(), testConfig(), 1<<30)
			recs := benchRecords(200000, live)
			b.ReportAllocs()
			b.ResetTimer()
			events := 0
			for i := 0; i < b.N; i++ {
				// One chunk: five records of 1000 events, as read from the spool.
				j := (i * 5) % len(recs)
				e.a.batches = append(e.a.batches[:0], recs[j:j+5]...)
				e.a.ends = []int64{1, 2, 3, 4, int64(i + 5)}
				if err := e.a.applyChunk(); err != nil {
					b.Fatal(err)
				}
				events += 5000
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAggregate measures the whole loop: a spool of 100k events
// counted by a started aggregator.
func BenchmarkAggregate(b *testing.B) {
	recs := benchRecords(100000, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := mustOpen(b, b.TempDir(), testConfig(), 16<<20)
		for _, r := range recs {
			if err := e.sp.Append(r); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		e.a.Start()
		e.waitApplied(b, 100000)
		b.StopTimer()
		e.close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*100000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLinkStatsParallel reads a day of hours of one link from
// parallel readers while nothing is written.
func BenchmarkLinkStatsParallel(b *testing.B) {
	e := mustOpen(b, b.TempDir(), testConfig(), 1<<30)
	e.a.batches = benchRecords(50000, false)
	e.a.ends = make([]int64, len(e.a.batches))
	for len(e.a.batches) > 0 {
		if err := e.a.applyChunk(); err != nil {
			b.Fatal(err)
		}
	}
	q := store.StatsQuery{Code: "link7", From: base, To: base.Add(24 * time.Hour), Granularity: store.Hour}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var sink atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		var total int64
		for pb.Next() {
			st, err := e.a.LinkStats(ctx, q)
			if err != nil {
				b.Error(err)
				return
			}
			total += st.Total
		}
		sink.Add(total)
	})
	if sink.Load() == 0 {
		b.Fatal("no scans read")
	}
}

// BenchmarkSpoolAppend shows what the append signal costs the writer,
// with a reader that works a millisecond after each wake-up, like the
// aggregator.
func BenchmarkSpoolAppend(b *testing.B) {
	recs := benchRecords(1000, true)[0]
	for _, signal := range []bool{false, true} {
		b.Run(fmt.Sprintf("signal=%v", signal), func(b *testing.B) {
			sp, err := spool.Open(filepath.Join(b.TempDir(), "spool"), 1<<40, 64<<20)
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			if signal {
				ch, stop := sp.Appended(), make(chan struct{})
				defer close(stop)
				go func() {
					for {
						select {
						case <-ch:
							time.Sleep(time.Millisecond)
						case <-stop:
							return
						}
					}
				}()
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := sp.Append(recs[:10]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
