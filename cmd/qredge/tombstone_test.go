package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/store"
)

// slowSource is a slow network between an edge and Redis: a fallback
// lookup reaches Redis late, and its answer comes back later still.
type slowSource struct {
	redirect.Source
	there, back time.Duration
}

func (s slowSource) LookupForHost(ctx context.Context, domain, code string) (*store.Link, error) {
	time.Sleep(s.there)
	l, err := s.Source.LookupForHost(ctx, domain, code)
	time.Sleep(s.back)
	return l, err
}

// TestEdgesDeletesStayDeleted races what used to bring deleted links back
// (fallback lookups of a code the feed has not delivered yet, resyncs
// reading Redis while a delete lands) against create and delete cycles
// on two edges, then checks that no deleted link answers anywhere.
func TestEdgesDeletesStayDeleted(t *testing.T) {
	addr := redistest.MustStart(t, redistest.Options{}).Addr()
	a := mustStartAPIServer(t, addr)
	var edges []*Edge
	for range 2 {
		cfg := DefaultEdgeConfig()
		cfg.Redis.Addr = addr
		cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Events.SpoolDir = t.TempDir()
		cfg.Sync.ResyncInterval = 0
		// Every miss asks Redis: a lookup that starts before a create
		// reads the link after it, and its answer comes back after the
		// delete has reached the edge.
		cfg.Fallback.NegativeTTL, cfg.Fallback.MaxPerSecond = 0, 1_000_000
		e := &Edge{Config: cfg, Log: newLogger(&testlog.Buffer{}, "text", "info"),
			slowSource: func(s redirect.Source) redirect.Source {
				return slowSource{s, 3 * time.Millisecond, 10 * time.Millisecond}
			}}
		if err := e.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		waitReady(t, e)
		edges = append(edges, e)
	}
	const cycles = 80
	var (
		load    loops
		current atomic.Value // the code being cycled
		scans   atomic.Int64
		resyncs atomic.Int64
	)
	current.Store("")
	for _, e := range edges {
		for range 16 {
			load.Go(func(int) {
				if code := current.Load().(string); code != "" {
					scanEdge(t, e, code)
					scans.Add(1)
				}
			})
		}
		if e != edges[0] {
			// A resync also drops links Redis no longer has, which would
			// hide a resurrection by the fallback: only the first edge
			// resyncs.
			continue
		}
		load.Go(func(int) {
			if _, err := e.Syncer().Resync(context.Background()); err == nil {
				resyncs.Add(1)
			}
		})
	}
	for i := range cycles {
		code := fmt.Sprintf("cyc%d", i)
		current.Store(code) // scanned before, during and after its life
		if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":%q,"destination":"https://example.com/%d"}`, code, i)); st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
		time.Sleep(time.Duration(i%4) * time.Millisecond)
		if st, b := apiCall(t, a, "DELETE", "/api/v1/links/"+code, ""); st != 204 {
			t.Fatalf("delete: %d %s", st, b)
		}
	}
	// Every edge has read the feed past the last delete once it has the
	// sentinel created after it; then nothing is in flight.
	if st, b := apiCall(t, a, "POST", "/api/v1/links", `{"code":"sentinel","destination":"https://example.com/end"}`); st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	for _, e := range edges {
		testwait.For(t, 10*time.Second, "the sentinel on every edge", func() bool { return e.Table().Lookup(nil, []byte("sentinel")) != nil })
	}
	load.Stop()
	t.Logf("%d cycles, %d scans, %d resyncs raced against the deletes", cycles, scans.Load(), resyncs.Load())
	if scans.Load() < cycles || resyncs.Load() == 0 {
		t.Fatalf("the race did not run: %d scans, %d resyncs", scans.Load(), resyncs.Load())
	}
	for n, e := range edges {
		if e.Table().Len() != 1 {
			t.Errorf("edge %d holds %d links, want only the sentinel", n, e.Table().Len())
		}
		for i := range cycles {
			code := fmt.Sprintf("cyc%d", i)
			if st, loc := scanEdge(t, e, code); st != 404 {
				t.Errorf("edge %d: deleted %s answers %d %s", n, code, st, loc)
			}
		}
	}
}
