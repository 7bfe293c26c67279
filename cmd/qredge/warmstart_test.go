package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/redisstore"
)

// BenchmarkEdgeWarmStart seeds N links into a fresh redis-server and
// measures how long a new edge takes to be ready with all of them, and the
// heap it then holds. N is QREDGE_BENCH_LINKS (default 100000); see
// docs/redis.md for the 1-million-link run:
//
//	QREDGE_BENCH_LINKS=1000000 go test -run '^$' -bench EdgeWarmStart -benchtime 1x ./cmd/qredge
func BenchmarkEdgeWarmStart(b *testing.B) {
	n := 100000
	if v := os.Getenv("QREDGE_BENCH_LINKS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("QREDGE_BENCH_LINKS=%q", v)
		}
	}
	srv := redistest.MustStart(b, redistest.Options{})
	cfg := redisstore.DefaultConfig()
	cfg.Client.Addr = srv.Addr()
	cfg.Client.ReadTimeout = time.Minute
	st, err := redisstore.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	links := make([]*store.Link, n)
	for i := range links {
		links[i] = &store.Link{Code: fmt.Sprintf("c%07d", i), Destination: fmt.Sprintf("https://shop.example.com/campaign/%d?utm_source=qr&utm_campaign=bf26", i),
			Status: 302, Tags: []string{"bf26"}}
	}
	seedStart := time.Now()
	if err := st.Seed(context.Background(), links); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d links into Redis in %s", n, time.Since(seedStart).Round(time.Millisecond))
	links = nil
	b.Logf("redis used_memory: %s", usedMemory(b, srv))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		e := &Edge{Config: DefaultEdgeConfig()}
		e.Config.Redis.Addr = srv.Addr()
		e.Config.Listen, e.Config.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
		e.Config.Sync.ResyncInterval = 0
		e.Config.Events.SpoolDir = b.TempDir()
		if err := e.Open(); err != nil {
			b.Fatal(err)
		}
		for !e.Table().Ready() {
			time.Sleep(time.Millisecond)
		}
		ready := time.Since(start)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if e.Table().Len() != n {
			b.Fatalf("loaded %d of %d links", e.Table().Len(), n)
		}
		heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		b.ReportMetric(ready.Seconds(), "s-to-ready")
		b.ReportMetric(heap, "MiB-heap")
		b.ReportMetric(heap*(1<<20)/float64(n), "B/link")
		b.Logf("edge ready with %d links in %s; table heap %.0f MiB (%.0f B/link)", n, ready.Round(time.Millisecond), heap, heap*(1<<20)/float64(n))
		e.Close()
	}
}

func usedMemory(tb testing.TB, srv *redistest.Server) string {
	for _, line := range strings.Split(srv.Do("INFO", "memory"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory_human:"); ok {
			return v
		}
	}
	return "?"
}
