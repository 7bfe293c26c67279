package redirect

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/analyticstest"
	"github.com/qredge/qredge/store"
)

// benchTable holds n plain links c0..c{n-1}, one forwarding link "fwd" and
// one domain-bound link "promo".
func benchTable(n int) *Table {
	links := make([]*store.Link, 0, n+2)
	for i := 0; i < n; i++ {
		links = append(links, &store.Link{Code: fmt.Sprintf("c%d", i), Destination: fmt.Sprintf("https://example.com/landing/%d", i)})
	}
	start := time.Now().Add(-time.Hour)
	end := time.Now().Add(24 * time.Hour)
	links = append(links,
		&store.Link{Code: "fwd", Destination: "https://example.com/f?utm_source=qr", ForwardQuery: true},
		&store.Link{Code: "promo", Domain: "go.brand.example", Destination: "https://brand.example/"},
		// Five rules that a desktop visitor from nowhere matches none of:
		// the worst case, every rule evaluated.
		&store.Link{Code: "rules5", Destination: "https://example.com/default", Rules: []store.Rule{
			{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/app/id1"},
			{When: store.Match{Device: []string{"android"}}, Destination: "https://play.google.com/store/apps/details?id=x"},
			{When: store.Match{Country: []string{"DE", "AT", "CH"}, Lang: []string{"de"}}, Destination: "https://example.de/"},
			{When: store.Match{Lang: []string{"fr", "it"}}, Destination: "https://example.fr/"},
			{When: store.Match{Query: map[string]string{"src": "tv"}, Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"beta": "on"}}, Destination: "https://example.com/beta"},
		}},
		&store.Link{Code: "ab", Destination: "https://example.com/", Variants: []store.Variant{
			{Name: "a", Destination: "https://example.com/a", Weight: 50}, {Name: "b", Destination: "https://example.com/b", Weight: 50}}},
		&store.Link{Code: "drop", Destination: "https://example.com/drop", Schedule: &store.Schedule{NotBefore: &start, NotAfter: &end}},
		// Before its start and after its end, with their own pages.
		&store.Link{Code: "soon", Destination: "https://example.com/soon", Schedule: &store.Schedule{NotBefore: &end}},
		&store.Link{Code: "ended", Destination: "https://example.com/ended", Schedule: &store.Schedule{NotAfter: &start}},
	)
	return newTestTable(links...)
}

func newCtx(uri, host string) *fasthttp.RequestCtx {
	req := &fasthttp.Request{}
	req.SetRequestURI(uri)
	req.Header.SetHost(host)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(req, nil, nil) // gives the context its own connection id, as a server would
	return ctx
}

var sinkStatus int

func benchServe(b *testing.B, uri, host string) {
	benchServeHost(b, uri, host, nil)
}

func BenchmarkServePlain(b *testing.B)    { benchServe(b, "/c4242", "localhost:8080") }
func BenchmarkServeForward(b *testing.B)  { benchServe(b, "/fwd?utm_medium=print&x=1", "localhost") }
func BenchmarkServeDomain(b *testing.B)   { benchServe(b, "/promo", "go.brand.example") }
func BenchmarkServeNotFound(b *testing.B) { benchServe(b, "/nope", "localhost") }

func BenchmarkServeRules5(b *testing.B) {
	benchServeReq(b, "/rules5?utm=x", map[string]string{"User-Agent": uaDesktopFull, "CF-IPCountry": "US", "Accept-Language": "en-US,en;q=0.9", "Cookie": "beta=off"})
}

// BenchmarkServeVariantsNew is a first scan: a variant is drawn and the
// cookie set.
func BenchmarkServeVariantsNew(b *testing.B) { benchServeReq(b, "/ab", nil) }

// BenchmarkServeVariantsSticky is a returning visitor with a cookie.
func BenchmarkServeVariantsSticky(b *testing.B) {
	benchServeReq(b, "/ab", map[string]string{"Cookie": "qv_ab=b"})
}

func BenchmarkServeSchedule(b *testing.B) { benchServeReq(b, "/drop", nil) }

func benchServeReq(b *testing.B, uri string, headers map[string]string) {
	benchServeHost(b, uri, "localhost", headers)
}

// benchServeHost serves the same request from every parallel goroutine,
// each with its own request context, as a server's workers would.
func benchServeHost(b *testing.B, uri, host string, headers map[string]string) {
	cfg := DefaultConfig()
	cfg.CountryHeader = "CF-IPCountry"
	h := NewHandler(cfg, benchTable(100000))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx(uri, host)
		for k, v := range headers {
			ctx.Request.Header.Set(k, v)
		}
		status := 0
		for pb.Next() {
			ctx.Response.Reset()
			h.Serve(ctx)
			status += ctx.Response.StatusCode()
		}
		sinkStatus += status
	})
}

// BenchmarkServePlainEvents: a plain scan with its event recorded (UA
// classified, country, language, referrer, client IP) and enqueued; a
// goroutine drains the queue as the pipeline would.
func BenchmarkServePlainEvents(b *testing.B) {
	q := analytics.NewQueue(1 << 16)
	analyticstest.Drain(b, q)
	cfg := DefaultConfig()
	cfg.Events = q
	cfg.CountryHeader = "CF-IPCountry"
	h := NewHandler(cfg, benchTable(100000))
	ctx := newCtx("/c4242", "localhost")
	ctx.Request.Header.Set("User-Agent", uaAndroidFull)
	ctx.Request.Header.Set("CF-IPCountry", "DE")
	ctx.Request.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	benchServeSerial(b, h, ctx)
}

func BenchmarkClassifyUA(b *testing.B) {
	ua := []byte(uaAndroidFull)
	b.ReportAllocs()
	var d uint8
	for i := 0; i < b.N; i++ {
		d, _ = ClassifyUA(ua)
	}
	sinkStatus = int(d)
}

// benchServeSerial serves ctx b.N times on one goroutine.
func benchServeSerial(b *testing.B, h *Handler, ctx *fasthttp.RequestCtx) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h.Serve(ctx)
	}
	sinkStatus = ctx.Response.StatusCode()
}

func BenchmarkServePlainSerial(b *testing.B) {
	h := NewHandler(DefaultConfig(), benchTable(100000))
	ctx := newCtx("/c4242", "localhost")
	benchServeSerial(b, h, ctx)
}

var sinkLink *Link

func BenchmarkLookup(b *testing.B) {
	tb := benchTable(1000000)
	codes := make([][]byte, 1024)
	for i := range codes {
		codes[i] = []byte(fmt.Sprintf("c%d", i*977))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var l *Link
		i := 0
		for pb.Next() {
			l = tb.Lookup(nil, codes[i&1023])
			i++
		}
		sinkLink = l
	})
}

func BenchmarkApply(b *testing.B) {
	tb := benchTable(1000000)
	l := &store.Link{Code: "c5", Destination: "https://example.com/x", Status: 302}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Version = uint64(2000000 + i)
		tb.Apply(store.Change{Op: store.OpPut, Link: l, Version: l.Version})
	}
}

// BenchmarkEventEnricher: what the pipeline's batcher pays per event for
// the classification the hot path leaves to it (UA and Accept-Language).
func BenchmarkEventEnricher(b *testing.B) {
	enrich := EventEnricher(nil)
	var raw analytics.Event
	raw.SetRaw([]byte(uaAndroidFull), []byte("de-DE,de;q=0.9,en;q=0.8"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e := raw
		e.Enrich = analytics.EnrichDevice | analytics.EnrichLang
		enrich(&e)
		sinkStatus += int(e.Device)
	}
}

// BenchmarkLookupCold looks up codes in random order over a whole table of
// 1M links, and reads the answer's Location as the response does: every
// lookup misses the CPU caches, as scans of uniformly spread codes do
// (BenchmarkLookup cycles through 1,024 codes that stay cached). The
// floor, a Go map from code to Location, runs beside it.
func BenchmarkLookupCold(b *testing.B) {
	const n = 1000000
	tb := benchTable(n)
	order := make([][]byte, n)
	floor := make(map[string][]byte, n)
	for i := range n { // built in code order, as benchTable builds the table
		code := fmt.Sprintf("c%d", i)
		floor[code] = []byte("https://example.com/landing/" + strconv.Itoa(i))
	}
	for i := range order {
		order[i] = []byte(fmt.Sprintf("c%d", (i*7919)%n))
	}
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for i := 0; i < b.N; i++ {
			if l := tb.Lookup(nil, order[i%n]); l != nil {
				sum += int(l.location()[len(l.location())-1])
			}
		}
		sinkInt = sum
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		sum := 0
		for i := 0; i < b.N; i++ {
			if loc, ok := floor[string(order[i%n])]; ok {
				sum += int(loc[len(loc)-1])
			}
		}
		sinkInt = sum
	})
}

var sinkInt int

// BenchmarkCompilePlain is the start-up cost of one plain link (what a
// table load pays per link):
//
//	go test -run '^$' -bench CompilePlain -benchmem ./redirect
func BenchmarkCompilePlain(b *testing.B) {
	l := &store.Link{Code: "c1", Destination: "https://shop.example.com/landing/c1?utm_source=qr&utm_medium=print", Status: 302, Version: 1, Tags: []string{"spring"}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sinkLink = Compile(l)
	}
}
