package redirect

import (
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/store"
)

// benchTable holds n plain links c0..c{n-1}, one forwarding link "fwd" and
// one domain-bound link "promo".
func benchTable(n int) *Table {
	links := make([]*store.Link, 0, n+2)
	for i := 0; i < n; i++ {
		links = append(links, &store.Link{Code: fmt.Sprintf("c%d", i), Destination: fmt.Sprintf("https://example.com/landing/%d", i)})
	}
	links = append(links,
		&store.Link{Code: "fwd", Destination: "https://example.com/f?utm_source=qr", ForwardQuery: true},
		&store.Link{Code: "promo", Domain: "go.brand.example", Destination: "https://brand.example/"})
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
	h := NewHandler(DefaultConfig(), benchTable(100000))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newCtx(uri, host)
		status := 0
		for pb.Next() {
			ctx.Response.Reset()
			h.Serve(ctx)
			status += ctx.Response.StatusCode()
		}
		sinkStatus += status
	})
}

func BenchmarkServePlain(b *testing.B)    { benchServe(b, "/c4242", "localhost:8080") }
func BenchmarkServeForward(b *testing.B)  { benchServe(b, "/fwd?utm_medium=print&x=1", "localhost") }
func BenchmarkServeDomain(b *testing.B)   { benchServe(b, "/promo", "go.brand.example") }
func BenchmarkServeNotFound(b *testing.B) { benchServe(b, "/nope", "localhost") }

func BenchmarkServePlainSerial(b *testing.B) {
	h := NewHandler(DefaultConfig(), benchTable(100000))
	ctx := newCtx("/c4242", "localhost")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h.Serve(ctx)
	}
	sinkStatus = ctx.Response.StatusCode()
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
