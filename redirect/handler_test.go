package redirect

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/store"
)

// testClient is shared so that connections are reused, not leaked.
var testClient = &fasthttp.Client{MaxIdleConnDuration: 10 * time.Second}

// mustStartServer serves h on a free loopback port and returns its address.
func mustStartServer(tb testing.TB, h *Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Serve, NoDefaultServerHeader: true, NoDefaultContentType: true}
	go srv.Serve(ln) //nolint:errcheck
	tb.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

type response struct {
	status   int
	location string
	cache    string
	ctype    string
	allow    string
	body     string
}

func do(tb testing.TB, method, addr, host, path string) response {
	tb.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + addr + path)
	if host != "" {
		req.UseHostHeader = true
		req.Header.SetHost(host)
	}
	c := testClient
	if method == fasthttp.MethodHead {
		resp.SkipBody = true
	}
	if err := c.DoTimeout(req, resp, 5*time.Second); err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	return response{
		status:   resp.StatusCode(),
		location: string(resp.Header.Peek("Location")),
		cache:    string(resp.Header.Peek("Cache-Control")),
		ctype:    string(resp.Header.Peek("Content-Type")),
		allow:    string(resp.Header.Peek("Allow")),
		body:     string(resp.Body()),
	}
}

func newTestTable(links ...*store.Link) *Table {
	t := NewTable()
	b := NewBuilder()
	for i, l := range links {
		l.Version = uint64(i + 1)
		if l.Status == 0 {
			l.Status = 302
		}
		b.Add(l)
	}
	t.Swap(b)
	return t
}

func TestHandlerHTTP(t *testing.T) {
	tb := newTestTable(
		&store.Link{Code: "spring24", Destination: "https://example.com/a"},
		&store.Link{Code: "perm", Destination: "https://example.com/p", Status: 301},
		&store.Link{Code: "p308", Destination: "https://example.com/p", Status: 308},
		&store.Link{Code: "t307", Destination: "https://example.com/t", Status: 307},
		&store.Link{Code: "fwd", Destination: "https://example.com/f?utm_source=qr#x", ForwardQuery: true},
		&store.Link{Code: "nofwd", Destination: "https://example.com/n"},
		&store.Link{Code: "off", Destination: "https://example.com/off", Disabled: true},
		&store.Link{Code: "promo", Destination: "https://any.example/"},
		&store.Link{Code: "promo", Domain: "go.brand.example", Destination: "https://brand.example/"},
		&store.Link{Code: "branded", Domain: "go.brand.example", Destination: "https://brand.example/only"},
	)
	addr := mustStartServer(t, NewHandler(DefaultConfig(), tb))
	tests := []struct {
		name, method, host, path string
		want                     response
	}{
		{"302", "GET", "", "/spring24", response{status: 302, location: "https://example.com/a", cache: "private, no-store"}},
		{"HEAD", "HEAD", "", "/spring24", response{status: 302, location: "https://example.com/a", cache: "private, no-store"}},
		{"trailing slash", "GET", "", "/spring24/", response{status: 302, location: "https://example.com/a", cache: "private, no-store"}},
		{"301", "GET", "", "/perm", response{status: 301, location: "https://example.com/p", cache: "public, max-age=3600"}},
		{"308", "GET", "", "/p308", response{status: 308, location: "https://example.com/p", cache: "public, max-age=3600"}},
		{"307", "GET", "", "/t307", response{status: 307, location: "https://example.com/t", cache: "private, no-store"}},
		{"forward", "GET", "", "/fwd?utm_source=tv&utm_medium=print", response{status: 302, location: "https://example.com/f?utm_source=qr&utm_medium=print#x", cache: "private, no-store"}},
		{"forward escapes", "GET", "", `/fwd?q=<b>"x"'y'\{}|^%60&e=%3C%zz`, response{status: 302, location: "https://example.com/f?utm_source=qr&q=%3Cb%3E%22x%22%27y%27%5C%7B%7D%7C%5E%60&e=%3C%25zz#x", cache: "private, no-store"}},
		{"no forward", "GET", "", "/nofwd?utm_source=tv", response{status: 302, location: "https://example.com/n", cache: "private, no-store"}},
		{"unknown", "GET", "", "/nope", response{status: 404, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(notFoundBody)}},
		{"case-sensitive", "GET", "", "/SPRING24", response{status: 404, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(notFoundBody)}},
		{"invalid code", "GET", "", "/a.b", response{status: 404, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(notFoundBody)}},
		{"root", "GET", "", "/", response{status: 404, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(notFoundBody)}},
		{"disabled", "GET", "", "/off", response{status: 410, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(goneBody)}},
		{"method", "POST", "", "/spring24", response{status: 405, allow: "GET, HEAD", ctype: "text/plain; charset=utf-8", body: string(methodBody)}},
		{"domain link", "GET", "go.brand.example", "/promo", response{status: 302, location: "https://brand.example/", cache: "private, no-store"}},
		{"domain link, port and case", "GET", "Go.Brand.Example:8080", "/promo", response{status: 302, location: "https://brand.example/", cache: "private, no-store"}},
		{"any-host link", "GET", "other.example", "/promo", response{status: 302, location: "https://any.example/", cache: "private, no-store"}},
		{"domain-only link elsewhere", "GET", "other.example", "/branded", response{status: 404, cache: "no-store", ctype: "text/html; charset=utf-8", body: string(notFoundBody)}},
		{"domain-only link", "GET", "go.brand.example", "/branded", response{status: 302, location: "https://brand.example/only", cache: "private, no-store"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, tt.method, addr, tt.host, tt.path)
			if tt.want.ctype == "" {
				// fasthttp's client reports a default Content-Type when
				// the server sent none, so only bodies are checked for it.
				got.ctype = ""
			}
			if got != tt.want {
				t.Fatalf("%s %s\n got %+v\nwant %+v", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestHandlerConfiguredURLs(t *testing.T) {
	tb := newTestTable(&store.Link{Code: "off", Destination: "https://example.com/", Disabled: true},
		&store.Link{Code: "cached", Destination: "https://example.com/c"})
	cfg := DefaultConfig()
	cfg.NotFoundURL = "https://brand.example/404"
	cfg.GoneURL = "https://brand.example/ended"
	cfg.TemporaryMaxAge = 90 * time.Second
	cfg.PermanentMaxAge = 0
	addr := mustStartServer(t, NewHandler(cfg, tb))
	if got := do(t, "GET", addr, "", "/nope"); got.status != 302 || got.location != cfg.NotFoundURL || got.cache != "no-store" {
		t.Fatalf("unknown code with NotFoundURL: %+v", got)
	}
	if got := do(t, "GET", addr, "", "/off"); got.status != 302 || got.location != cfg.GoneURL {
		t.Fatalf("disabled link with GoneURL: %+v", got)
	}
	if got := do(t, "GET", addr, "", "/cached"); got.cache != "public, max-age=90" {
		t.Fatalf("TemporaryMaxAge: %+v", got)
	}
}

// TestHandlerSeesChanges checks that a change applied to the table is served
// by the very next request.
func TestHandlerSeesChanges(t *testing.T) {
	tb := newTestTable()
	addr := mustStartServer(t, NewHandler(DefaultConfig(), tb))
	if got := do(t, "GET", addr, "", "/new"); got.status != 404 {
		t.Fatalf("before create: %+v", got)
	}
	l := &store.Link{Code: "new", Destination: "https://example.com/1", Status: 302, Version: 10}
	tb.Apply(store.Change{Op: store.OpPut, Link: l, Version: 10})
	if got := do(t, "GET", addr, "", "/new"); got.location != "https://example.com/1" {
		t.Fatalf("after create: %+v", got)
	}
	l2 := *l
	l2.Destination, l2.Version = "https://example.com/2", 11
	tb.Apply(store.Change{Op: store.OpPut, Link: &l2, Version: 11})
	if got := do(t, "GET", addr, "", "/new"); got.location != "https://example.com/2" {
		t.Fatalf("after update: %+v", got)
	}
	tb.Apply(store.Change{Op: store.OpDelete, Link: &l2, Version: 12})
	if got := do(t, "GET", addr, "", "/new"); got.status != 404 {
		t.Fatalf("after delete: %+v", got)
	}
}
