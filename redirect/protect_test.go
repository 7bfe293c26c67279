package redirect

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

// serveCtx runs one request through h in memory and returns its context.
func serveCtx(h *Handler, method, uri string, setup func(*fasthttp.Request)) *fasthttp.RequestCtx {
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("localhost")
	if setup != nil {
		setup(req)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(req, nil, nil)
	h.Serve(ctx)
	return ctx
}

func TestPasswordProtected(t *testing.T) {
	q := analytics.NewQueue(100)
	cfg := DefaultConfig()
	cfg.Events = q
	now := testclock.Date(2026, 5, 1, 12, 0, 0)
	cfg.Now = func() time.Time { return now }
	tb := newTestTable(validLink(t, &store.Link{Code: "vip", Destination: "https://example.com/vip?a=1", Password: "open sesame", ForwardQuery: true}),
		&store.Link{Code: "open", Destination: "https://example.com/"})
	h := NewHandler(cfg, tb)

	// No cookie: the form, not counted as a scan, not cached.
	ctx := serveCtx(h, "GET", "/vip?q", nil)
	body := string(ctx.Response.Body())
	if ctx.Response.StatusCode() != 200 || !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, `<label for="password">`) ||
		strings.Contains(body, "<script") || string(ctx.Response.Header.Peek("Cache-Control")) != "no-store" {
		t.Fatalf("form: %d %q", ctx.Response.StatusCode(), body)
	}
	if _, ok := q.Dequeue(); ok {
		t.Fatal("the form was counted as a scan")
	}
	post := func(pw, cookieIP string) *fasthttp.RequestCtx {
		return serveCtx(h, "POST", "/vip?q", func(r *fasthttp.Request) {
			r.Header.SetContentType("application/x-www-form-urlencoded")
			r.SetBodyString("password=" + pw)
		})
	}
	// A wrong password: 403 with the form again.
	if ctx := post("wrong", ""); ctx.Response.StatusCode() != 403 || !strings.Contains(string(ctx.Response.Body()), "Wrong password") {
		t.Fatalf("wrong password: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	// The right one: a cookie for the link's path and 303 back to the
	// same URL, the QR marker kept.
	ctx = post("open+sesame", "")
	cookie := string(ctx.Response.Header.Peek("Set-Cookie"))
	if ctx.Response.StatusCode() != 303 || string(ctx.Response.Header.Peek("Location")) != "/vip?q" ||
		!strings.HasPrefix(cookie, PasswordCookiePrefix+"vip=") || !strings.Contains(cookie, "; Path=/vip; Max-Age=43200; HttpOnly; SameSite=Lax") {
		t.Fatalf("right password: %d %q %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"), cookie)
	}
	value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], PasswordCookiePrefix+"vip=")
	withCookie := func(v string) func(*fasthttp.Request) {
		return func(r *fasthttp.Request) { r.Header.SetCookie(PasswordCookiePrefix+"vip", v) }
	}
	// With the cookie: the redirect, counted as a QR scan.
	ctx = serveCtx(h, "GET", "/vip?q&utm=x", withCookie(value))
	if ctx.Response.StatusCode() != 302 || string(ctx.Response.Header.Peek("Location")) != "https://example.com/vip?a=1&utm=x" {
		t.Fatalf("with the cookie: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
	}
	if e, ok := q.Dequeue(); !ok || e.Source != analytics.SourceQR || e.Status != 302 {
		t.Fatalf("scan event %v %+v", ok, e)
	}
	// A tampered cookie, another link's cookie, an expired one: the form.
	tampered := []byte(value)
	tampered[len(tampered)-1] ^= 1
	if c := serveCtx(h, "GET", "/vip", withCookie(string(tampered))); c.Response.StatusCode() != 200 {
		t.Fatalf("tampered cookie: %d", c.Response.StatusCode())
	}
	now = now.Add(13 * time.Hour)
	if c := serveCtx(h, "GET", "/vip", withCookie(value)); c.Response.StatusCode() != 200 {
		t.Fatalf("expired cookie: %d", c.Response.StatusCode())
	}
	// A new password ends every cookie: the hash keys them.
	tb2 := newTestTable(validLink(t, &store.Link{Code: "vip", Destination: "https://example.com/vip", Password: "another one"}))
	now = now.Add(-13 * time.Hour)
	if c := serveCtx(NewHandler(cfg, tb2), "GET", "/vip", withCookie(value)); c.Response.StatusCode() != 200 {
		t.Fatalf("cookie of the old password: %d", c.Response.StatusCode())
	}
	// POST to a link without a password is still refused.
	if c := serveCtx(h, "POST", "/open", nil); c.Response.StatusCode() != 405 {
		t.Fatalf("POST to an open link: %d", c.Response.StatusCode())
	}
	// Guesses are limited per link and client: 5 a minute (one wrong and
	// one right one above).
	for i := 0; i < 3; i++ {
		if c := post("wrong", ""); c.Response.StatusCode() != 403 {
			t.Fatalf("guess %d: %d", i+3, c.Response.StatusCode())
		}
	}
	if c := post("open+sesame", ""); c.Response.StatusCode() != 429 || string(c.Response.Header.Peek("Retry-After")) != "60" {
		t.Fatalf("sixth try in a minute: %d", c.Response.StatusCode())
	}
	now = now.Add(time.Minute)
	if c := post("open+sesame", ""); c.Response.StatusCode() != 303 {
		t.Fatalf("a minute later: %d", c.Response.StatusCode())
	}
	if got := h.Metrics().counts[rPassword].load(); got != 10 {
		t.Fatalf("password answers counted %d, want 10", got)
	}
}

func TestGoneURLAndScanLimit(t *testing.T) {
	q := analytics.NewQueue(100)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.GoneURL = "https://example.com/global-gone"
	at := testclock.Date(2026, 5, 1, 12, 0, 0)
	cfg.Now = func() time.Time { return at.Add(time.Hour) } // the schedule below is compared with it
	var reachedMu sync.Mutex
	var reached []string
	counter := &ScanCounter{
		Load: func(key string, created int64, bots bool) int64 {
			if strings.HasPrefix(key, "half\x00") {
				return 1
			}
			return 0
		},
		Reached: func(key string, created, count int64, bots bool) {
			reachedMu.Lock()
			reached = append(reached, key)
			reachedMu.Unlock()
		},
	}
	cfg.Limiter = counter
	tb := newTestTable(
		validLink(t, &store.Link{Code: "off", Destination: "https://example.com/", Disabled: true, GoneURL: "https://example.com/sold-out"}),
		validLink(t, &store.Link{Code: "off2", Destination: "https://example.com/", Disabled: true}),
		validLink(t, &store.Link{Code: "two", Destination: "https://example.com/two", MaxScans: 2, GoneURL: "https://example.com/no-more",
			Rules: []store.Rule{{Name: "ios", When: store.Match{Device: []string{"ios"}}, Destination: "https://example.com/ios"}}}),
		validLink(t, &store.Link{Code: "half", Destination: "https://example.com/half", MaxScans: 2}),
		validLink(t, &store.Link{Code: "marked", Destination: "https://example.com/m", MaxScans: 5, ScanLimitReachedAt: &at,
			Schedule: &store.Schedule{NotAfter: ptr(at.AddDate(10, 0, 0)), AfterURL: "https://example.com/after"}}),
	)
	h := NewHandler(cfg, tb)
	get := func(path, ua string) (int, string, analytics.Event) {
		t.Helper()
		ctx := serveCtx(h, "GET", path, func(r *fasthttp.Request) { r.Header.SetUserAgent(ua) })
		e, _ := q.Dequeue()
		return ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("Location")), e
	}
	if st, loc, e := get("/off", uaDesktopFull); st != 302 || loc != "https://example.com/sold-out" || e.Target != analytics.TargetDisabled {
		t.Fatalf("disabled with gone_url: %d %q %+v", st, loc, e)
	}
	if st, loc, _ := get("/off2", uaDesktopFull); st != 302 || loc != "https://example.com/global-gone" {
		t.Fatalf("disabled without gone_url: %d %q", st, loc)
	}
	// Bots do not count: two scans by a crawler, then two by people, then
	// the limit.
	for i := 0; i < 2; i++ {
		if st, loc, _ := get("/two", "Googlebot/2.1 (+http://www.google.com/bot.html)"); st != 302 || loc != "https://example.com/two" {
			t.Fatalf("bot scan %d: %d %q", i, st, loc)
		}
	}
	if st, loc, e := get("/two", uaIPhoneFull); st != 302 || loc != "https://example.com/ios" || e.RuleName != "ios" || e.MaxScans != 2 {
		t.Fatalf("first scan: %d %q %+v", st, loc, e)
	}
	if st, _, _ := get("/two", uaDesktopFull); st != 302 {
		t.Fatalf("second scan: %d", st)
	}
	st, loc, e := get("/two", uaDesktopFull)
	if st != 302 || loc != "https://example.com/no-more" || e.Target != analytics.TargetScanLimit {
		t.Fatalf("third scan: %d %q %+v", st, loc, e)
	}
	// HEAD requests are not scans: not counted either.
	if c := serveCtx(h, "HEAD", "/half", nil); c.Response.StatusCode() != 302 {
		t.Fatalf("HEAD: %d", c.Response.StatusCode())
	}
	// Counting starts from Load: one scan left.
	if st, _, _ := get("/half", uaDesktopFull); st != 302 {
		t.Fatalf("half: %d", st)
	}
	if st, loc, _ := get("/half", uaDesktopFull); st != 302 || loc != "https://example.com/global-gone" {
		t.Fatalf("half past its limit, without gone_url: %d %q", st, loc)
	}
	// Marked by the server: past the limit on every edge, to after_url.
	if st, loc, _ := get("/marked", uaDesktopFull); st != 302 || loc != "https://example.com/after" {
		t.Fatalf("marked: %d %q", st, loc)
	}
	testwait.For(t, 5*time.Second, "both limits reported", func() bool {
		reachedMu.Lock()
		defer reachedMu.Unlock()
		return len(reached) == 2
	})
	reachedMu.Lock()
	defer reachedMu.Unlock()
	if reached[0] == reached[1] {
		t.Fatalf("reached %q", reached)
	}
	if d := counter.Dirty(); len(d) != 2 || d[ScanCountKey{"two\x00", 0}] != 2 {
		t.Fatalf("dirty %v", d)
	}
	if d := counter.Dirty(); len(d) != 0 {
		t.Fatalf("dirty twice %v", d)
	}
}

func ptr[T any](v T) *T { return &v }

// TestScanLimitConcurrent: under concurrent scans exactly max are
// admitted.
func TestScanLimitConcurrent(t *testing.T) {
	c := &ScanCounter{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if c.Admit("k\x00", 7, 1000, false) {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if admitted != 1000 {
		t.Fatalf("admitted %d of 4000, want 1000", admitted)
	}
}

// TestGuessLimits: 5 tries a minute per link and client, an IPv6 /64
// counting as one client; 120 wrong passwords a minute per link from any
// number of clients; a new minute starts afresh.
func TestGuessLimits(t *testing.T) {
	var g guesses
	now := testclock.Date(2026, 5, 1, 12, 0, 0).UnixNano()
	a := netip.MustParseAddr("2001:db8:1:2::1")
	for i := 0; i < maxGuesses; i++ {
		if !g.allow("vip\x00", netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), now) {
			t.Fatalf("try %d from the /64 refused", i+1)
		}
	}
	if g.allow("vip\x00", a, now) || !g.allow("other\x00", a, now) || !g.allow("vip\x00", netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Fatal("the /64's sixth try was let through, or another link or /64 was refused")
	}
	for i := 0; i < maxLinkFailures; i++ {
		g.failed("vip\x00")
	}
	if g.allow("vip\x00", netip.MustParseAddr("198.51.100.7"), now) {
		t.Fatal("a new client was let through after the link's failures budget")
	}
	if !g.allow("vip\x00", netip.MustParseAddr("198.51.100.7"), now+int64(time.Minute)) {
		t.Fatal("a new minute did not start afresh")
	}
}

// TestProtectedNotCached: a protected or limited link's redirect is never
// cached, not even a 301 (a shared cache would skip the password, and
// scans would go uncounted).
func TestProtectedNotCached(t *testing.T) {
	cfg := DefaultConfig()
	tb := newTestTable(validLink(t, &store.Link{Code: "vip", Destination: "https://example.com/", Status: 301, Password: "open sesame"}),
		validLink(t, &store.Link{Code: "few", Destination: "https://example.com/", Status: 301, MaxScans: 100}),
		&store.Link{Code: "open", Destination: "https://example.com/", Status: 301})
	h := NewHandler(cfg, tb)
	ctx := serveCtx(h, "POST", "/vip", func(r *fasthttp.Request) {
		r.Header.SetContentType("application/x-www-form-urlencoded")
		r.SetBodyString("password=open+sesame")
	})
	cookie := strings.SplitN(string(ctx.Response.Header.Peek("Set-Cookie")), ";", 2)[0]
	name, value, _ := strings.Cut(cookie, "=")
	for path, want := range map[string]string{"/vip": "no-store", "/few": "no-store", "/open": "public, max-age=3600"} {
		c := serveCtx(h, "GET", path, func(r *fasthttp.Request) { r.Header.SetCookie(name, value) })
		if c.Response.StatusCode() != 301 || string(c.Response.Header.Peek("Cache-Control")) != want {
			t.Errorf("%s: %d, Cache-Control %q, want %q", path, c.Response.StatusCode(), c.Response.Header.Peek("Cache-Control"), want)
		}
	}
}
