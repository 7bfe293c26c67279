//go:build !race

package redirect

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

// TestServeAllocs enforces the hot path's zero-allocation promise.
func TestServeAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CountryHeader = "CF-IPCountry"
	cfg.ClientIPHeader = "X-Forwarded-For"
	cfg.Countries = fakeGeo{}
	h := NewHandler(cfg, benchTable(1000))
	visitor := map[string]string{"User-Agent": uaDesktopFull, "Accept-Language": "en-US,en;q=0.9", "Cookie": "beta=off; x=y", "X-Forwarded-For": "203.0.113.9"}
	for _, tc := range []struct {
		uri, host string
		headers   map[string]string
	}{
		{"/c42", "localhost", nil},
		{"/fwd?utm_medium=print&x=1", "localhost", nil},
		{"/fwd?q=<b>\"x\"'y'%zz&c=caf\xc3\xa9", "localhost", nil},
		{"/promo", "go.brand.example", nil},
		{"/nope", "localhost", nil},
		{"/a.b", "localhost", nil},
		{"/rules5?src=tv", "localhost", visitor},
		{"/rules5", "localhost", map[string]string{"User-Agent": uaDesktopFull, "CF-IPCountry": "DE", "Accept-Language": "de"}},
		{"/rules5", "localhost", map[string]string{"X-Forwarded-For": "198.51.100.7"}}, // GeoIP path
		{"/ab", "localhost", nil},
		{"/ab", "localhost", map[string]string{"Cookie": "qv_ab=a"}},
		{"/drop", "localhost", nil},
		{"/soon", "localhost", nil},
		{"/ended", "localhost", nil},
	} {
		ctx := newCtx(tc.uri, tc.host)
		for k, v := range tc.headers {
			ctx.Request.Header.Set(k, v)
		}
		h.Serve(ctx) // warm buffers
		n := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			h.Serve(ctx)
		})
		if n != 0 {
			t.Errorf("%s on %s with %v: %v allocations per request, want 0", tc.uri, tc.host, tc.headers, n)
		}
	}
}

// TestNegativeCacheAllocs: a storm of unknown codes answered from the
// negative cache allocates nothing either.
func TestNegativeCacheAllocs(t *testing.T) {
	src := &countingSource{links: map[string]*store.Link{}}
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h := fallbackHandler(src, &clock)
	ctx := newCtx("/unknown1", "localhost")
	h.Serve(ctx)
	n := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.Serve(ctx)
	})
	if n != 0 || ctx.Response.StatusCode() != 404 {
		t.Fatalf("%v allocations per negative-cached miss (status %d)", n, ctx.Response.StatusCode())
	}
}

// TestServeWithEventsAllocs: recording the scan event allocates nothing.
func TestServeWithEventsAllocs(t *testing.T) {
	q := analytics.NewQueue(1 << 16)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.CountryHeader = "CF-IPCountry"
	h := NewHandler(cfg, benchTable(1000))
	for _, uri := range []string{"/c42", "/rules5?src=tv", "/ab", "/drop"} {
		ctx := newCtx(uri, "localhost")
		ctx.Request.Header.Set("User-Agent", uaAndroidFull)
		ctx.Request.Header.Set("Referer", "https://www.example.org/x")
		h.Serve(ctx)
		n := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			h.Serve(ctx)
			q.Dequeue()
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per scan with events, want 0", uri, n)
		}
	}
	// Scans through a QR code: the marker is stripped in place. The URI is
	// set again each time, because stripping changes it.
	for _, uri := range []string{"/c42?q", "/fwd?q&utm_medium=print", "/rules5?q&src=tv"} {
		for _, ok := q.Dequeue(); ok; _, ok = q.Dequeue() {
		}
		ctx := newCtx(uri, "localhost")
		n := testing.AllocsPerRun(1000, func() {
			ctx.Request.SetRequestURI(uri)
			ctx.Response.Reset()
			h.Serve(ctx)
			if e, _ := q.Dequeue(); e.Source != analytics.SourceQR {
				t.Fatalf("%s: event source %d", uri, e.Source)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per QR scan, want 0", uri, n)
		}
	}
}
