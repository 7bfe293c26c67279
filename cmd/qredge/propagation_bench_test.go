package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
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
	srv := redistest.MustStart(b, redistest.Options{})
	acfg := DefaultAPIConfig()
	acfg.Redis.Addr = srv.Addr()
	acfg.Listen, acfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	acfg.API.AdminKey = redisTestKey
	acfg.API.PublicURL = "https://go.example"
	acfg.API.RateLimit = -1
	a := &APIServer{Config: acfg, Log: newLogger(io.Discard, "text", "error")}
	if err := a.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var edges []*Edge
	for range 2 {
		cfg := DefaultEdgeConfig()
		cfg.Redis.Addr = srv.Addr()
		cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Events.SpoolDir = b.TempDir()
		e := &Edge{Config: cfg, Log: newLogger(io.Discard, "text", "error")}
		if err := e.Open(); err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		for !e.Table().Ready() {
			time.Sleep(time.Millisecond)
		}
		edges = append(edges, e)
	}
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(body string) {
		r, _ := http.NewRequest("POST", "http://"+a.Addr()+"/api/v1/links", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+redisTestKey)
		resp, err := client.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			b.Fatalf("create: %d", resp.StatusCode)
		}
	}
	for i := range 100 {
		post(fmt.Sprintf(`{"code":"load%d","destination":"https://example.com/%d"}`, i, i))
	}
	// The load: scans of existing codes on both edges, four at a time.
	var stop atomic.Bool
	var scans atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		e := edges[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i++ {
				resp, err := client.Get(fmt.Sprintf("http://%s/load%d", e.Addr(), i%100))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					scans.Add(1)
				}
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
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
