package redirect

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

// countingSource is a Source over a map that counts calls and can be slow
// or failing.
type countingSource struct {
	mu    sync.Mutex
	links map[string]*store.Link // by storage key
	calls atomic.Int64
	delay time.Duration
	fail  bool
}

func (s *countingSource) LookupForHost(ctx context.Context, domain, code string) (*store.Link, error) {
	s.calls.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if s.fail {
		return nil, errors.New("source down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.links[store.LinkKey(domain, code)]; l != nil {
		return l, nil
	}
	return s.links[store.LinkKey("", code)], nil
}

func fallbackHandler(src Source, clock *atomic.Int64) *Handler {
	cfg := DefaultConfig()
	cfg.Fallback = FallbackConfig{Source: src, NegativeTTL: 2 * time.Second, Timeout: time.Second, MaxPerSecond: 100}
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	return NewHandler(cfg, NewTable())
}

func serveCode(h *Handler, host, path string) (int, string) {
	ctx := newCtx(path, host)
	h.Serve(ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("Location"))
}

func TestFallbackFindsAndCaches(t *testing.T) {
	src := &countingSource{links: map[string]*store.Link{
		store.LinkKey("", "late"):              {Code: "late", Destination: "https://example.com/late", Status: 302, Version: 7},
		store.LinkKey("go.brand.example", "b"): {Code: "b", Domain: "go.brand.example", Destination: "https://brand.example/", Status: 302, Version: 8},
	}}
	var clock atomic.Int64
	clock.Store(testclock.Date(2026, 11, 23, 0, 0, 0).UnixNano())
	h := fallbackHandler(src, &clock)
	if st, loc := serveCode(h, "localhost", "/late"); st != 302 || loc != "https://example.com/late" {
		t.Fatalf("first scan of a link missing from the table: %d %q", st, loc)
	}
	// Now it is in the table: no more lookups.
	for i := 0; i < 10; i++ {
		serveCode(h, "localhost", "/late")
	}
	if src.calls.Load() != 1 || h.table.Len() != 1 {
		t.Fatalf("calls %d, table %d", src.calls.Load(), h.table.Len())
	}
	if st, loc := serveCode(h, "GO.Brand.example:443", "/b"); st != 302 || loc != "https://brand.example/" {
		t.Fatalf("domain link via fallback: %d %q", st, loc)
	}
	// Unknown: asked once, then negative-cached until the TTL passes.
	for i := 0; i < 5; i++ {
		if st, _ := serveCode(h, "localhost", "/nope"); st != 404 {
			t.Fatalf("unknown code answered %d", st)
		}
	}
	if src.calls.Load() != 3 {
		t.Fatalf("calls after unknown scans: %d, want 3", src.calls.Load())
	}
	clock.Add(int64(3 * time.Second))
	serveCode(h, "localhost", "/nope")
	if src.calls.Load() != 4 {
		t.Fatalf("negative cache did not expire: %d calls", src.calls.Load())
	}
	// Invalid codes never reach the source.
	serveCode(h, "localhost", "/no.pe")
	serveCode(h, "localhost", "/api")
	if src.calls.Load() != 5 { // "api" is syntactically valid; the API routes it away before the handler in practice
		t.Fatalf("calls %d", src.calls.Load())
	}
	st := h.FallbackStats()
	if st.Found.Load() != 2 || st.NegativeHit.Load() != 4 {
		t.Fatalf("stats found %d negative %d", st.Found.Load(), st.NegativeHit.Load())
	}
}

func TestFallbackSingleFlight(t *testing.T) {
	src := &countingSource{links: map[string]*store.Link{
		store.LinkKey("", "hot"): {Code: "hot", Destination: "https://example.com/hot", Status: 302, Version: 1},
	}, delay: 50 * time.Millisecond}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h := fallbackHandler(src, &clock)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, _ := serveCode(h, "localhost", "/hot"); st == 302 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || src.calls.Load() != 1 {
		t.Fatalf("%d of 50 concurrent first scans redirected with %d lookups, want 50 with 1", ok.Load(), src.calls.Load())
	}
}

// TestFallbackStorm sends 20,000 scans of random unknown codes within one
// simulated second and reports how many reached the source: the rate
// limit bounds it, whatever the request rate.
func TestFallbackStorm(t *testing.T) {
	src := &countingSource{links: map[string]*store.Link{}}
	var clock atomic.Int64
	clock.Store(testclock.Date(2026, 11, 23, 0, 0, 0).UnixNano())
	h := fallbackHandler(src, &clock)
	const n = 20000
	for i := 0; i < n; i++ {
		serveCode(h, "localhost", fmt.Sprintf("/%x", rand.Uint64()))
	}
	perRequest := float64(src.calls.Load()) / n
	t.Logf("storm: %d random unknown codes in one second -> %d source lookups (%.4f per request); limited %d",
		n, src.calls.Load(), perRequest, h.FallbackStats().Limited.Load())
	if src.calls.Load() > 100 {
		t.Fatalf("%d lookups in one second, limit 100", src.calls.Load())
	}
	// A failing source is protected the same way, and answers stay 404.
	bad := &countingSource{fail: true}
	hb := fallbackHandler(bad, &clock)
	for i := 0; i < 1000; i++ {
		if st, _ := serveCode(hb, "localhost", "/same"); st != 404 {
			t.Fatalf("failing source: %d", st)
		}
	}
	// Errors are not cached as "not found", so the rate limit (100/s here)
	// is what bounds the calls.
	if bad.calls.Load() != 100 || hb.FallbackStats().Errors.Load() != 100 {
		t.Fatalf("failing source asked %d times in one second, want the limit (100)", bad.calls.Load())
	}
}

// lateSource answers with the link as it was before a delete, but only
// after the delete has reached the table: the race that used to bring
// deleted links back until the next resync.
type lateSource struct {
	link    *store.Link
	once    sync.Once
	read    chan struct{} // closed when the lookup has read the link
	release chan struct{} // closed when the delete has been applied
}

func (s *lateSource) LookupForHost(ctx context.Context, domain, code string) (*store.Link, error) {
	s.once.Do(func() { close(s.read) })
	<-s.release
	return s.link, nil
}

func TestFallbackAnswerOlderThanDelete(t *testing.T) {
	l := &store.Link{Code: "race", Destination: "https://example.com/race", Status: 302, Version: 3}
	src := &lateSource{link: l, read: make(chan struct{}), release: make(chan struct{})}
	var clock atomic.Int64
	clock.Store(testclock.Date(2026, 11, 2, 10, 0, 0).UnixNano())
	h := fallbackHandler(src, &clock)
	done := make(chan int)
	go func() {
		status, _ := serveCode(h, "localhost", "/race")
		done <- status
	}()
	<-src.read
	h.table.Apply(store.Change{Op: store.OpDelete, Link: &store.Link{Code: "race"}, Version: 4})
	close(src.release)
	if status := <-done; status != 404 {
		t.Fatalf("scan racing the delete = %d, want 404", status)
	}
	if status, loc := serveCode(h, "localhost", "/race"); status != 404 {
		t.Fatalf("deleted link answers %d %s after the race", status, loc)
	}
	if _, ok := h.table.VersionOf("", "race"); ok {
		t.Fatal("deleted link is in the table")
	}
}

func TestFallbackBudgetIsForCodesNotFound(t *testing.T) {
	src := &countingSource{links: map[string]*store.Link{}}
	for i := range 50 {
		code := fmt.Sprint("have", i)
		src.links[store.LinkKey("", code)] = &store.Link{Code: code, Destination: "https://example.com/" + code, Status: 302, Version: uint64(i + 1)}
	}
	var clock atomic.Int64
	clock.Store(testclock.Date(2026, 11, 2, 10, 0, 0).UnixNano())
	cfg := DefaultConfig()
	cfg.Fallback = FallbackConfig{Source: src, NegativeTTL: 2 * time.Second, Timeout: time.Second, MaxPerSecond: 5}
	cfg.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	h := NewHandler(cfg, NewTable()) // a table still empty: every code misses
	// Within one second: 50 existing codes, ten times the budget, all found.
	for i := range 50 {
		if status, _ := serveCode(h, "localhost", fmt.Sprint("/have", i)); status != 302 {
			t.Fatalf("existing code have%d = %d while the table is empty, want 302", i, status)
		}
	}
	// Unknown codes use the budget up; then lookups stop for the second.
	for i := range 10 {
		serveCode(h, "localhost", fmt.Sprint("/none", i))
	}
	if calls := src.calls.Load(); calls != 55 {
		t.Fatalf("source asked %d times, want 50 found + 5 not found", calls)
	}
	if lim := h.FallbackStats().Limited.Load(); lim != 5 {
		t.Fatalf("limited = %d, want 5", lim)
	}
	// The next second has a new budget.
	clock.Add(int64(time.Second))
	if status, _ := serveCode(h, "localhost", "/none9"); status != 404 || src.calls.Load() != 56 {
		t.Fatalf("next second: status %d, calls %d", status, src.calls.Load())
	}
}
