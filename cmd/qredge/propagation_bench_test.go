package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
)

// BenchmarkPropagationUnderLoad measures, with two edges answering scans
// from other goroutines, the time from an API create's 201 until both
// edges answer the new link, and reports its p50 and p99:
//
//	go test -run '^$' -bench PropagationUnderLoad -benchtime 300x ./cmd/qredge
func BenchmarkPropagationUnderLoad(b *testing.B) {
	srv, a := mustStartRedisAPI(b, redistest.Options{})
	var edges []*Edge
	for range 2 {
		e := mustStartEdge(b, srv.Addr(), nil)
		waitReady(b, e)
		edges = append(edges, e)
	}
	post := func(body string) {
		if st, resp := apiCall(b, a, "POST", "/api/v1/links", body); st != 201 {
			b.Fatalf("create: %d %s", st, resp)
		}
	}
	for i := range 100 {
		post(fmt.Sprintf(`{"code":"load%d","destination":"https://example.com/%d"}`, i, i))
	}
	// The load: scans of existing codes on both edges, four at a time.
	var scans atomic.Int64
	var load loops
	for w := range 4 {
		e := edges[w%2]
		load.Go(func(i int) {
			resp, err := noRedirect.Get(fmt.Sprintf("http://%s/load%d", e.Addr(), (w+i)%100))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				scans.Add(1)
			}
		})
	}
	defer load.Stop()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		code := fmt.Sprintf("prop%d", i)
		post(fmt.Sprintf(`{"code":%q,"destination":"https://example.com/p"}`, code))
		created := time.Now()
		for _, e := range edges {
			for e.Table().Lookup(nil, []byte(code)) == nil {
				if time.Since(created) > 10*time.Second {
					b.Fatalf("%s not on an edge after 10 s", code)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		times = append(times, time.Since(created))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(times, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(scans.Load())/time.Since(start).Seconds(), "scans/s")
}
