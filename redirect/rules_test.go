package redirect

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

const (
	uaIPhoneFull  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
	uaAndroidFull = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
	uaDesktopFull = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
)

type scan struct {
	path    string
	headers map[string]string
}

type answer struct {
	status    int
	location  string
	setCookie string
	cache     string
}

func doScan(tb testing.TB, addr string, s scan) answer {
	tb.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + s.path)
	for k, v := range s.headers {
		if strings.EqualFold(k, "Host") {
			req.UseHostHeader = true
			req.Header.SetHost(v)
			continue
		}
		req.Header.Set(k, v)
	}
	if err := testClient.DoTimeout(req, resp, 5*time.Second); err != nil {
		tb.Fatalf("GET %s: %v", s.path, err)
	}
	return answer{
		status:    resp.StatusCode(),
		location:  string(resp.Header.Peek("Location")),
		setCookie: string(resp.Header.Peek("Set-Cookie")),
		cache:     string(resp.Header.Peek("Cache-Control")),
	}
}

func validLink(t testing.TB, l *store.Link) *store.Link {
	t.Helper()
	if err := l.Validate(); err != nil {
		t.Fatalf("test link invalid: %v", err)
	}
	return l
}

// fakeGeo maps fixed client IPs to countries.
type fakeGeo map[netip.Addr][2]byte

func (g fakeGeo) Country(ip netip.Addr) [2]byte { return g[ip] }

func TestRules(t *testing.T) {
	app := validLink(t, &store.Link{Code: "app", Destination: "https://example.com/",
		Rules: []store.Rule{
			{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/app/id1"},
			{When: store.Match{Device: []string{"android"}}, Destination: "https://play.google.com/store/apps/details?id=x"},
			{When: store.Match{Country: []string{"DE", "AT"}, Lang: []string{"de"}}, Destination: "https://example.de/"},
			{When: store.Match{Country: []string{"DE", "AT"}}, Destination: "https://example.com/dach-en"},
			{When: store.Match{Lang: []string{"fr"}}, Destination: "https://example.fr/"},
			{When: store.Match{Query: map[string]string{"src": "tv"}, Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"beta": "on"}}, Destination: "https://example.com/beta"},
			{When: store.Match{Query: map[string]string{"preview": "*"}}, Destination: "https://example.com/preview"},
			{When: store.Match{Device: []string{"desktop", "other"}, Header: map[string]string{"X-Store": "*"}}, Destination: "https://example.com/store-kiosk"},
		}})
	tb := newTestTable(app)
	cfg := DefaultConfig()
	cfg.CountryHeader = "CF-IPCountry"
	addr := mustStartServer(t, NewHandler(cfg, tb))
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		want    string
	}{
		{"no match falls back", "/app", nil, "https://example.com/"},
		{"ios", "/app", map[string]string{"User-Agent": uaIPhoneFull}, "https://apps.apple.com/app/id1"},
		{"android", "/app", map[string]string{"User-Agent": uaAndroidFull}, "https://play.google.com/store/apps/details?id=x"},
		{"first match wins over country", "/app", map[string]string{"User-Agent": uaIPhoneFull, "CF-IPCountry": "DE", "Accept-Language": "de"}, "https://apps.apple.com/app/id1"},
		{"country and lang", "/app", map[string]string{"User-Agent": uaDesktopFull, "CF-IPCountry": "AT", "Accept-Language": "de-AT,de;q=0.9,en;q=0.5"}, "https://example.de/"},
		{"country without lang", "/app", map[string]string{"CF-IPCountry": "de", "Accept-Language": "en-GB"}, "https://example.com/dach-en"},
		{"lang preference by q", "/app", map[string]string{"Accept-Language": "en;q=0.4, fr;q=0.8"}, "https://example.fr/"},
		{"unknown country", "/app", map[string]string{"CF-IPCountry": "XX1"}, "https://example.com/"},
		{"query+header+cookie all", "/app?src=tv", map[string]string{"X-Test": "1", "Cookie": "beta=on; other=1"}, "https://example.com/beta"},
		{"query+header, cookie missing", "/app?src=tv", map[string]string{"X-Test": "1"}, "https://example.com/"},
		{"query+cookie, header wrong", "/app?src=tv", map[string]string{"X-Test": "2", "Cookie": "beta=on"}, "https://example.com/"},
		{"query value wrong", "/app?src=radio", map[string]string{"X-Test": "1", "Cookie": "beta=on"}, "https://example.com/"},
		{"query encoded value", "/app?s%72c=t%76", map[string]string{"X-Test": "1", "Cookie": "beta=on"}, "https://example.com/beta"},
		{"query any value", "/app?preview=", nil, "https://example.com/preview"},
		{"query any value 2", "/app?preview=yes", nil, "https://example.com/preview"},
		{"device set and header any", "/app", map[string]string{"User-Agent": "", "X-Store": "berlin-1"}, "https://example.com/store-kiosk"},
		{"device set excludes ios", "/app", map[string]string{"User-Agent": uaIPhoneFull, "X-Store": "berlin-1"}, "https://apps.apple.com/app/id1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := doScan(t, addr, scan{tt.path, tt.headers})
			if got.status != 302 || got.location != tt.want {
				t.Fatalf("got %d %q, want 302 %q", got.status, got.location, tt.want)
			}
			if got.cache != "private, no-store" {
				t.Fatalf("a link with rules answered Cache-Control %q", got.cache)
			}
		})
	}
}

func TestCountrySources(t *testing.T) {
	l := validLink(t, &store.Link{Code: "c", Destination: "https://example.com/",
		Rules: []store.Rule{{When: store.Match{Country: []string{"DE"}}, Destination: "https://example.de/"}}})
	geo := fakeGeo{netip.MustParseAddr("127.0.0.1"): {'D', 'E'}, netip.MustParseAddr("203.0.113.7"): {'D', 'E'}}
	f := func(name string, cfg Config, headers map[string]string, want string) {
		t.Helper()
		addr := mustStartServer(t, NewHandler(cfg, newTestTable(l.Clone())))
		if got := doScan(t, addr, scan{"/c", headers}); got.location != want {
			t.Fatalf("%s: got %q, want %q", name, got.location, want)
		}
	}
	// A country header is not trusted unless configured.
	f("untrusted header", DefaultConfig(), map[string]string{"CF-IPCountry": "DE"}, "https://example.com/")
	withHeader := DefaultConfig()
	withHeader.CountryHeader = "CF-IPCountry"
	f("trusted header", withHeader, map[string]string{"CF-IPCountry": "DE"}, "https://example.de/")
	// GeoIP by the connection's address (the test client is 127.0.0.1).
	withGeo := DefaultConfig()
	withGeo.Countries = geo
	f("geoip by connection", withGeo, nil, "https://example.de/")
	// GeoIP by a trusted proxy header: its last entry is the client.
	withProxy := withGeo
	withProxy.ClientIPHeader = "X-Forwarded-For"
	f("geoip by proxy header", withProxy, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}, "https://example.de/")
	f("geoip by proxy header, other ip", withProxy, map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}, "https://example.com/")
	f("geoip, bad proxy header", withProxy, map[string]string{"X-Forwarded-For": "not-an-ip"}, "https://example.com/")
	// A request without the header (one that did not pass the proxy) has
	// the connection's address.
	f("geoip, proxy header absent", withProxy, nil, "https://example.de/")
	f("geoip, proxy header blank", withProxy, map[string]string{"X-Forwarded-For": " "}, "https://example.de/")
	// The header wins over GeoIP when both answer.
	both := withGeo
	both.CountryHeader = "CF-IPCountry"
	f("header wins", both, map[string]string{"CF-IPCountry": "FR"}, "https://example.com/")
	f("geoip when header absent", both, nil, "https://example.de/")
}

func TestVariantsSticky(t *testing.T) {
	l := validLink(t, &store.Link{Code: "ab", Destination: "https://example.com/",
		Variants: []store.Variant{
			{Name: "a", Destination: "https://example.com/a", Weight: 70},
			{Name: "b", Destination: "https://example.com/b", Weight: 30},
		}})
	l.Version = 1
	tb := NewTable()
	tb.Apply(store.Change{Op: store.OpPut, Link: l, Version: 1})
	addr := mustStartServer(t, NewHandler(DefaultConfig(), tb))

	const visitors = 10000
	cookies := make([]string, visitors)
	dests := make([]string, visitors)
	counts := map[string]int{}
	for i := 0; i < visitors; i++ {
		got := doScan(t, addr, scan{"/ab", nil})
		if got.status != 302 || got.setCookie == "" || got.cache != "private, no-store" {
			t.Fatalf("first scan of visitor %d: %+v", i, got)
		}
		counts[got.location]++
		dests[i] = got.location
		cookies[i] = strings.SplitN(got.setCookie, ";", 2)[0]
	}
	frac := float64(counts["https://example.com/a"]) / visitors
	t.Logf("70/30 split over %d visitors: a=%d b=%d (%.2f%% a)", visitors, counts["https://example.com/a"], counts["https://example.com/b"], 100*frac)
	if math.Abs(frac-0.70) > 0.03 {
		t.Fatalf("split %.3f, want 0.70 within 3 points", frac)
	}
	// The cookie is scoped to the link and safe by default.
	got := doScan(t, addr, scan{"/ab", nil})
	for _, attr := range []string{"qv_ab=", "Path=/ab", "Max-Age=2592000", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(got.setCookie, attr) {
			t.Fatalf("Set-Cookie %q lacks %q", got.setCookie, attr)
		}
	}
	// Each visitor keeps its variant, and gets no new cookie.
	for i := 0; i < 500; i++ {
		again := doScan(t, addr, scan{"/ab", map[string]string{"Cookie": cookies[i]}})
		if again.location != dests[i] || again.setCookie != "" {
			t.Fatalf("visitor %d with %q: %+v, first got %q", i, cookies[i], again, dests[i])
		}
	}
	// New weights do not reshuffle visitors who hold a variant that still
	// exists.
	l2 := l.Clone()
	l2.Variants[0].Weight, l2.Variants[1].Weight, l2.Version = 1, 99, 2
	tb.Apply(store.Change{Op: store.OpPut, Link: l2, Version: 2})
	for i := 0; i < 500; i++ {
		again := doScan(t, addr, scan{"/ab", map[string]string{"Cookie": cookies[i]}})
		if again.location != dests[i] || again.setCookie != "" {
			t.Fatalf("visitor %d reshuffled after a weight change: %+v, had %q", i, again, dests[i])
		}
	}
	// A removed variant is replaced, with a new cookie.
	l3 := l2.Clone()
	l3.Variants = []store.Variant{{Name: "b", Destination: "https://example.com/b", Weight: 1}, {Name: "c", Destination: "https://example.com/c", Weight: 1}}
	l3.Version = 3
	tb.Apply(store.Change{Op: store.OpPut, Link: l3, Version: 3})
	got = doScan(t, addr, scan{"/ab", map[string]string{"Cookie": "qv_ab=a"}})
	if got.location == "https://example.com/a" || got.setCookie == "" {
		t.Fatalf("holder of a removed variant: %+v", got)
	}
	// A rule that matches wins over the variants.
	l4 := l3.Clone()
	l4.Rules = []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/"}}
	l4.Version = 4
	tb.Apply(store.Change{Op: store.OpPut, Link: validLink(t, l4), Version: 4})
	got = doScan(t, addr, scan{"/ab", map[string]string{"User-Agent": uaIPhoneFull, "Cookie": "qv_ab=b"}})
	if got.location != "https://apps.apple.com/" || got.setCookie != "" {
		t.Fatalf("rule vs variants: %+v", got)
	}
}

func TestVariantCookieSecure(t *testing.T) {
	l := validLink(t, &store.Link{Code: "s", Destination: "https://example.com/",
		Variants: []store.Variant{{Destination: "https://example.com/a", Weight: 1}, {Destination: "https://example.com/b", Weight: 1}}})
	cfg := DefaultConfig()
	cfg.CookieSecure = true
	cfg.VariantCookieMaxAge = time.Hour
	addr := mustStartServer(t, NewHandler(cfg, newTestTable(l)))
	got := doScan(t, addr, scan{"/s", nil})
	if !strings.Contains(got.setCookie, "; Secure") || !strings.Contains(got.setCookie, "Max-Age=3600") || !strings.HasPrefix(got.setCookie, "qv_s=v") {
		t.Fatalf("Set-Cookie %q", got.setCookie)
	}
}

func TestSchedule(t *testing.T) {
	start := testclock.Date(2026, 11, 27, 12, 0, 0)
	end := testclock.Date(2026, 11, 30, 0, 0, 0)
	var now atomic.Int64
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
	tb := newTestTable(
		validLink(t, &store.Link{Code: "drop", Destination: "https://example.com/drop", Status: 301,
			Schedule: &store.Schedule{NotBefore: &start, BeforeURL: "https://example.com/soon", NotAfter: &end, AfterURL: "https://example.com/ended"}}),
		validLink(t, &store.Link{Code: "bare", Destination: "https://example.com/bare",
			Schedule: &store.Schedule{NotBefore: &start, NotAfter: &end}}),
		validLink(t, &store.Link{Code: "fwd", Destination: "https://example.com/f", ForwardQuery: true,
			Schedule: &store.Schedule{NotBefore: &start, BeforeURL: "https://example.com/soon?x=1"}}),
	)
	addr := mustStartServer(t, NewHandler(cfg, tb))
	tests := []struct {
		at              time.Time
		path            string
		status          int
		location, cache string
	}{
		{start.Add(-time.Nanosecond), "/drop", 302, "https://example.com/soon", "no-store"},
		{start, "/drop", 301, "https://example.com/drop", "public, max-age=3600"},
		{end.Add(-time.Nanosecond), "/drop", 301, "https://example.com/drop", "public, max-age=3600"},
		{end, "/drop", 302, "https://example.com/ended", "no-store"},
		{start.Add(-time.Hour), "/bare", 404, "", "no-store"},
		{start.Add(time.Hour), "/bare", 302, "https://example.com/bare", "private, no-store"},
		{end.Add(time.Hour), "/bare", 410, "", "no-store"},
		{start.Add(-time.Hour), "/fwd?utm_source=tv", 302, "https://example.com/soon?x=1&utm_source=tv", "no-store"},
		{start.Add(time.Hour), "/fwd?utm_source=tv", 302, "https://example.com/f?utm_source=tv", "private, no-store"},
	}
	for _, tt := range tests {
		now.Store(tt.at.UnixNano())
		got := doScan(t, addr, scan{tt.path, nil})
		if got.status != tt.status || got.location != tt.location || got.cache != tt.cache {
			t.Fatalf("%s at %s: %+v, want %d %q %q", tt.path, tt.at.Format(time.RFC3339Nano), got, tt.status, tt.location, tt.cache)
		}
	}
}

func TestForwardOnRuleTargets(t *testing.T) {
	l := validLink(t, &store.Link{Code: "f", Destination: "https://example.com/?utm_source=qr", ForwardQuery: true,
		QueryPrecedence: store.QueryScanWins,
		Rules:           []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/app?pt=1&utm_source=qr"}}})
	addr := mustStartServer(t, NewHandler(DefaultConfig(), newTestTable(l)))
	got := doScan(t, addr, scan{"/f?utm_source=tv&c=%C3%A9", map[string]string{"User-Agent": uaIPhoneFull}})
	if got.location != "https://apps.apple.com/app?pt=1&utm_source=tv&c=%C3%A9" {
		t.Fatalf("rule target forwarding: %q", got.location)
	}
	got = doScan(t, addr, scan{"/f?utm_source=tv", nil})
	if got.location != "https://example.com/?utm_source=tv" {
		t.Fatalf("destination forwarding with scan precedence: %q", got.location)
	}
}

// TestDecideDeterministic checks the weighted pick itself with a fixed
// sequence: every number in [0, total) maps to the variant owning it.
func TestDecideDeterministic(t *testing.T) {
	l := Compile(validLink(t, &store.Link{Code: "w", Destination: "https://example.com/",
		Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 2}, {Name: "b", Destination: "https://b.example/", Weight: 3}}}))
	h := NewHandler(DefaultConfig(), NewTable())
	ctx := newCtx("/w", "localhost")
	want := []string{"a", "a", "b", "b", "b"}
	for n := uint64(0); n < 5; n++ {
		v := visitor{ctx: ctx, h: h}
		d := h.decide(l, &v, 0, func(uint64) uint64 { return n })
		if got := string(l.variants[d.variant].name); got != want[n] || !d.assign || d.reason.String() != ReasonVariant {
			t.Fatalf("pick %d: variant %q (%+v), want %q", n, got, d, want[n])
		}
	}
	if fmt.Sprint(l.total) != "5" {
		t.Fatalf("total %d", l.total)
	}
}

// TestSchedulePages: a scheduled link without a URL for its time answers
// with its own page, naming the start or the end, not the page of an
// unknown code; --not-found-url does not apply to it (the code is known),
// --gone-url still does after the end.
func TestSchedulePages(t *testing.T) {
	start := testclock.Date(2026, 11, 27, 18, 0, 0)
	end := testclock.Date(2026, 11, 30, 0, 0, 0)
	var now atomic.Int64
	for _, global := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
		if global {
			cfg.NotFoundURL, cfg.GoneURL = "https://example.com/404", "https://example.com/410"
		}
		h := NewHandler(cfg, newTestTable(validLink(t, &store.Link{Code: "bare", Destination: "https://example.com/bare",
			Schedule: &store.Schedule{NotBefore: &start, NotAfter: &end}})))
		for _, tc := range []struct {
			at       time.Time
			status   int
			body     string
			location string
		}{
			{start.Add(-time.Hour), 404, "<h1>Not live yet</h1><p>This link goes live on <time datetime=\"" + start.UTC().Format(time.RFC3339) + "\">", ""},
			{end.Add(time.Hour), 410, "<h1>This campaign has ended</h1><p>This link ended on <time datetime=\"" + end.UTC().Format(time.RFC3339) + "\">", ""},
		} {
			if global && tc.status == 410 {
				tc.status, tc.body, tc.location = 302, "", "https://example.com/410"
			}
			now.Store(tc.at.UnixNano())
			ctx := newCtx("/bare", "localhost")
			h.Serve(ctx)
			body := string(ctx.Response.Body())
			if ctx.Response.StatusCode() != tc.status || !strings.Contains(body, tc.body) || string(ctx.Response.Header.Peek("Location")) != tc.location ||
				string(ctx.Response.Header.Peek("Cache-Control")) != "no-store" {
				t.Fatalf("global URLs %v, at %s: %d %q location %q", global, tc.at, ctx.Response.StatusCode(), body, ctx.Response.Header.Peek("Location"))
			}
		}
	}
}
