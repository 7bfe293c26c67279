package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
)

// fakeClock is the injectable clock of the limits' tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: testclock.Date(2026, 11, 23, 12, 0, 0)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKeyLimiter(t *testing.T) {
	clk := newFakeClock()
	kl := newKeyLimiter(2, 3) // 2/s, burst 3
	kl.now = clk.Now
	for i := 0; i < 3; i++ {
		if w := kl.take("a", 1, false); w != 0 {
			t.Fatalf("request %d within the burst waits %v", i, w)
		}
	}
	if w := kl.take("a", 1, false); w != 500*time.Millisecond {
		t.Fatalf("over the burst: wait %v, want 500ms", w)
	}
	if w := kl.take("b", 1, false); w != 0 {
		t.Fatalf("another key is limited: %v", w)
	}
	clk.Advance(500 * time.Millisecond)
	if w := kl.take("a", 1, false); w != 0 {
		t.Fatalf("after refilling one token: wait %v", w)
	}
	// Debt: a bulk charge goes below zero, down to -burst, and the next
	// request waits for the debt to be paid.
	clk.Advance(10 * time.Second) // full again
	if w := kl.take("a", 100, true); w != 0 {
		t.Fatalf("debt refused: %v", w)
	}
	if w := kl.take("a", 1, false); w != 2*time.Second {
		t.Fatalf("after debt: wait %v, want 2s (from -3 to 1 at 2/s)", w)
	}
}

func TestKeyLimiterBounded(t *testing.T) {
	clk := newFakeClock()
	kl := newKeyLimiter(1, 1)
	kl.now = clk.Now
	for i := 0; i < 3*maxTracked; i++ {
		kl.take(strconv.Itoa(i), 1, false)
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	if n := len(kl.buckets); n > maxTracked {
		t.Fatalf("%d buckets, bound %d", n, maxTracked)
	}
	// Idle buckets (refilled to the burst) are the ones dropped first.
	clk.Advance(time.Hour)
	kl.take("busy", 1, false)
	for i := 0; len(kl.buckets) < maxTracked; i++ {
		kl.take(fmt.Sprint("fill", i), 1, false)
	}
	kl.take("new", 1, false)
	if _, ok := kl.buckets["busy"]; !ok {
		t.Fatal("the sweep dropped a bucket in use")
	}
}

func TestBadKeys(t *testing.T) {
	clk := newFakeClock()
	bk := newBadKeys(3, time.Minute)
	bk.now = clk.Now
	for i := 0; i < 3; i++ {
		if w := bk.blocked("192.0.2.1"); w != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		bk.fail("192.0.2.1")
		clk.Advance(10 * time.Second)
	}
	if w := bk.blocked("192.0.2.1"); w != 30*time.Second {
		t.Fatalf("wait %v, want the rest of the window (30s)", w)
	}
	if w := bk.blocked("192.0.2.2"); w != 0 {
		t.Fatalf("another client is blocked: %v", w)
	}
	clk.Advance(30 * time.Second)
	if w := bk.blocked("192.0.2.1"); w != 0 {
		t.Fatalf("still blocked after the window: %v", w)
	}
	for i := 0; i < 2*maxTracked; i++ {
		bk.fail(strconv.Itoa(i))
	}
	if n := len(bk.clients); n > maxTracked {
		t.Fatalf("%d clients tracked, bound %d", n, maxTracked)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		if got := retryAfterSeconds(d); got != want {
			t.Fatalf("retryAfterSeconds(%v) = %s, want %s", d, got, want)
		}
	}
	f(0, "1")
	f(time.Millisecond, "1")
	f(time.Second, "1")
	f(1001*time.Millisecond, "2")
	f(59*time.Second+time.Nanosecond, "60")
}

func TestClientIP(t *testing.T) {
	f := func(remote, want string) {
		t.Helper()
		if got := clientIP(&http.Request{RemoteAddr: remote}); got != want {
			t.Fatalf("clientIP(%q) = %q, want %q", remote, got, want)
		}
	}
	f("192.0.2.1:5000", "192.0.2.1")
	f("[2001:db8::1]:443", "2001:db8::1")
	f("pipe", "pipe")
}

// mustStartProtected is mustStartAPI with its own configuration and a fake
// clock in the limits.
func mustStartProtected(t *testing.T, log *slog.Logger, edit func(*Config)) (*env, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	e := startAPI(t, apiOptions{log: log, edit: edit, prepare: func(srv *Server) {
		if srv.limits != nil {
			srv.limits.now = clk.Now
		}
		if srv.bad != nil {
			srv.bad.now = clk.Now
		}
	}})
	return e, clk
}

// allRoutesServer is a server with every optional route, for its Routes.
func allRoutesServer() *Server {
	cfg := DefaultConfig()
	cfg.Resolver, cfg.Stats, cfg.Brake = &fakeResolver{}, &fakeStats{}, &fakeBrake{}
	return NewServer(cfg, nil, slog.Default())
}

// routePath is a concrete path of a route pattern.
func routePath(pattern string) string {
	return strings.NewReplacer("{code}", "x", "{id}", "x", "{dlid}", "x").Replace(pattern)
}

func TestRateLimitEveryRoute(t *testing.T) {
	e, clk := mustStartProtected(t, nil, func(c *Config) { c.RateLimit, c.RateBurst = 1, 3 })
	srv := allRoutesServer()
	// The reader's bucket: three requests pass, the fourth waits a second.
	for i := 0; i < 3; i++ {
		e.call("GET", "/api/v1/links", e.read, "", nil, 200, nil)
	}
	for _, rt := range srv.Routes() {
		if rt.Scope == "" {
			continue
		}
		r := e.call(rt.Method, routePath(rt.Pattern), e.read, "", nil, 429, nil)
		if p := r.problem(t); p.Code != ERATELIMITED {
			t.Fatalf("%s %s: problem %+v", rt.Method, rt.Pattern, p)
		}
		if ra := r.header.Get("Retry-After"); ra != "1" {
			t.Fatalf("%s %s: Retry-After %q", rt.Method, rt.Pattern, ra)
		}
	}
	// Other keys have their own buckets; the --api-key one too.
	e.call("GET", "/api/v1/links", e.write, "", nil, 200, nil)
	e.call("GET", "/api/v1/keys", e.admin, "", nil, 200, nil)
	clk.Advance(time.Second)
	e.call("GET", "/api/v1/links", e.read, "", nil, 200, nil)
	e.call("GET", "/api/v1/links", e.read, "", nil, 429, nil)
}

func TestRateLimitBulkCost(t *testing.T) {
	e, clk := mustStartProtected(t, nil, func(c *Config) { c.RateLimit, c.RateBurst = 10, 10 })
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 500; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"code":"b%d","destination":"https://example.com/%d"}`, i, i)
	}
	b.WriteString("]")
	// 1 token for the request, 5 for 500 links: 4 of 10 remain.
	e.call("POST", "/api/v1/links/bulk", e.write, b.String(), nil, 201, nil)
	for i := 0; i < 4; i++ {
		e.call("GET", "/api/v1/links/b1", e.write, "", nil, 200, nil)
	}
	r := e.call("GET", "/api/v1/links/b1", e.write, "", nil, 429, nil)
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	clk.Advance(100 * time.Millisecond)
	e.call("GET", "/api/v1/links/b1", e.write, "", nil, 200, nil)
}

func TestRateLimitOff(t *testing.T) {
	e, _ := mustStartProtected(t, nil, func(c *Config) { c.RateLimit, c.RateBurst = -1, 1 })
	for i := 0; i < 5; i++ {
		e.call("GET", "/api/v1/links", e.read, "", nil, 200, nil)
	}
}
