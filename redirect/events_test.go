package redirect

import (
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

func TestScanEvents(t *testing.T) {
	q := analytics.NewQueue(100)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.CountryHeader = "CF-IPCountry"
	cfg.ClientIPHeader = "X-Real-IP"
	tb := newTestTable(
		&store.Link{Code: "plain", Destination: "https://example.com/"},
		validLink(t, &store.Link{Code: "app", Domain: "go.brand.example", Destination: "https://example.com/",
			Rules:    []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/"}},
			Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 1}, {Name: "b", Destination: "https://b.example/", Weight: 1}}}),
		&store.Link{Code: "off", Destination: "https://example.com/", Disabled: true},
	)
	h := NewHandler(cfg, tb)
	var raw analytics.Event // the last scan's event as the hot path made it
	scan := func(path, host string, headers map[string]string) analytics.Event {
		t.Helper()
		ctx := newCtx(path, host)
		for k, v := range headers {
			ctx.Request.Header.Set(k, v)
		}
		h.Serve(ctx)
		e, ok := q.Dequeue()
		if !ok {
			t.Fatalf("no event for %s", path)
		}
		if _, more := q.Dequeue(); more {
			t.Fatalf("two events for one scan of %s", path)
		}
		raw = e
		EventEnricher(nil)(&e) // as the pipeline's batcher does
		return e
	}
	e := scan("/plain", "localhost", map[string]string{"User-Agent": uaDesktopFull, "CF-IPCountry": "de", "Accept-Language": "fr-FR,fr;q=0.9",
		"Referer": "https://News.Example.org/article?x=1", "X-Real-IP": "203.0.113.9"})
	if e.Key != "plain\x00" || e.Status != 302 || e.Target != analytics.TargetDestination || e.Device != analytics.DeviceDesktop ||
		e.Country != [2]byte{'D', 'E'} || string(e.Lang[:2]) != "fr" || string(e.Ref[:e.RefLen]) != "news.example.org" ||
		e.IP[15] != 9 || e.Time == 0 || e.ID == ([16]byte{}) || e.Rule != -1 {
		t.Fatalf("plain event %+v", e)
	}
	// A plain link needs no classification on the request path: the raw
	// headers travel to the batcher.
	if raw.Enrich != analytics.EnrichDevice|analytics.EnrichLang || string(raw.UA[:raw.UALen]) != uaDesktopFull || raw.Device != 0 || e.Enrich != 0 {
		t.Fatalf("plain event before enrichment %+v", raw)
	}
	e = scan("/app", "go.brand.example", map[string]string{"User-Agent": uaIPhoneFull})
	// The rule needed the device: it is in the event already.
	if raw.Enrich&analytics.EnrichDevice != 0 || raw.Device != analytics.DeviceIOS {
		t.Fatalf("rule event before enrichment %+v", raw)
	}
	if e.Key != "app\x00go.brand.example" || e.Target != analytics.TargetRule || e.Rule != 0 || e.Device != analytics.DeviceIOS {
		t.Fatalf("rule event %+v", e)
	}
	e = scan("/app", "go.brand.example", map[string]string{"Cookie": "qv_app=b", "User-Agent": "facebookexternalhit/1.1"})
	if e.Target != analytics.TargetVariantCookie || e.Variant != "b" || !e.Bot {
		t.Fatalf("variant event %+v", e)
	}
	if e = scan("/off", "localhost", nil); e.Status != 410 || e.Target != analytics.TargetDisabled {
		t.Fatalf("disabled event %+v", e)
	}
	// Unknown codes are not scans of a link: no event.
	ctx := newCtx("/nope", "localhost")
	h.Serve(ctx)
	if _, ok := q.Dequeue(); ok {
		t.Fatal("an unknown code produced an event")
	}
}

type fixedCountry [2]byte

func (f fixedCountry) Country(ip netip.Addr) [2]byte { return f }

// TestEventCountryByIP: without a country header, the GeoIP lookup of the
// client IP is left to the batcher.
func TestEventCountryByIP(t *testing.T) {
	q := analytics.NewQueue(16)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.Countries = fixedCountry{'N', 'L'}
	h := NewHandler(cfg, newTestTable(&store.Link{Code: "plain", Destination: "https://example.com/"}))
	h.Serve(newCtx("/plain", "localhost"))
	e, ok := q.Dequeue()
	if !ok || e.Enrich&analytics.EnrichCountry == 0 || e.Country != ([2]byte{}) {
		t.Fatalf("raw event %+v", e)
	}
	EventEnricher(cfg.Countries)(&e)
	if e.Country != [2]byte{'N', 'L'} || e.Device != analytics.DeviceOther || e.Enrich != 0 {
		t.Fatalf("enriched event country %q device %d", e.Country, e.Device)
	}
}

// TestScanEventClientIP: with a client IP header configured, the event
// carries its address, or the connection's when the request has none.
func TestScanEventClientIP(t *testing.T) {
	q := analytics.NewQueue(10)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.ClientIPHeader = "X-Forwarded-For"
	h := NewHandler(cfg, newTestTable(&store.Link{Code: "plain", Destination: "https://example.com/"}))
	f := func(header string, want netip.Addr) {
		t.Helper()
		req := &fasthttp.Request{}
		req.SetRequestURI("/plain")
		req.Header.SetHost("localhost")
		if header != "" {
			req.Header.Set("X-Forwarded-For", header)
		}
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 55), Port: 4242}, nil)
		h.Serve(ctx)
		e, ok := q.Dequeue()
		if !ok {
			t.Fatalf("header %q: no event", header)
		}
		if got := netip.AddrFrom16(e.IP).Unmap(); got != want {
			t.Fatalf("header %q: event IP %v, want %v", header, got, want)
		}
	}
	f("198.51.100.1, 203.0.113.7", netip.MustParseAddr("203.0.113.7"))
	f("", netip.MustParseAddr("192.0.2.55"))
	f("  ", netip.MustParseAddr("192.0.2.55"))
}

// TestHeadNotCounted: a HEAD request (a link checker, an uptime monitor)
// gets the same answer as a GET and makes no scan event.
func TestHeadNotCounted(t *testing.T) {
	q := analytics.NewQueue(10)
	cfg := DefaultConfig()
	cfg.Events = q
	h := NewHandler(cfg, newTestTable(&store.Link{Code: "plain", Destination: "https://example.com/"}))
	ctx := newCtx("/plain", "localhost")
	ctx.Request.Header.SetMethod("HEAD")
	h.Serve(ctx)
	if ctx.Response.StatusCode() != 302 || string(ctx.Response.Header.Peek("Location")) != "https://example.com/" {
		t.Fatalf("HEAD: %d %q", ctx.Response.StatusCode(), ctx.Response.Header.Peek("Location"))
	}
	if e, ok := q.Dequeue(); ok {
		t.Fatalf("a HEAD request made an event: %+v", e)
	}
	h.Serve(newCtx("/plain", "localhost"))
	if _, ok := q.Dequeue(); !ok {
		t.Fatal("a GET made no event")
	}
}
