package loadtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// testServer is a stand-in for qredge's redirect handler on 127.0.0.1: 302
// for a known code, 404 for anything else, and a stall on demand.
type testServer struct {
	url string

	mu        sync.Mutex
	known     map[string]int // code -> status to answer
	hits      map[string]int // per known code
	notFound  int
	userAgent map[string]int
	country   map[string]int
	referer   map[string]int
	host      map[string]int

	// Requests that arrive in [stallFrom, stallTo) (Unix ns) sleep stallFor.
	stallFrom, stallTo, stallFor atomic.Int64
}

// mustStartServer starts a testServer that knows codes (answering 302).
func mustStartServer(tb testing.TB, codes []string) *testServer {
	tb.Helper()
	s := &testServer{known: make(map[string]int, len(codes))}
	for _, c := range codes {
		s.known[c] = fasthttp.StatusFound
	}
	s.reset()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cannot listen: %v", err)
	}
	srv := &fasthttp.Server{Handler: s.handle, ReadTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	s.url = "http://" + ln.Addr().String()
	return s
}

func (s *testServer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits = make(map[string]int)
	s.notFound = 0
	s.userAgent = make(map[string]int)
	s.country = make(map[string]int)
	s.referer = make(map[string]int)
	s.host = make(map[string]int)
}

// answer makes the server answer code with status.
func (s *testServer) answer(code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known[code] = status
}

// stall makes the requests that arrive in [from, from+window) take d each.
func (s *testServer) stall(from time.Time, window, d time.Duration) {
	s.stallFor.Store(int64(d))
	s.stallFrom.Store(from.UnixNano())
	s.stallTo.Store(from.Add(window).UnixNano())
}

func (s *testServer) unstall() {
	s.stallFrom.Store(0)
	s.stallTo.Store(0)
}

func (s *testServer) handle(ctx *fasthttp.RequestCtx) {
	if now := time.Now().UnixNano(); now >= s.stallFrom.Load() && now < s.stallTo.Load() {
		time.Sleep(time.Duration(s.stallFor.Load()))
	}
	code := string(ctx.Path()[1:])
	// known is read under mu: the generator's raw sockets give the race
	// detector no order between a test's setup and the handler.
	s.mu.Lock()
	status, ok := s.known[code]
	if ok {
		s.hits[code]++
	} else {
		s.notFound++
	}
	s.userAgent[string(ctx.UserAgent())]++
	s.country[string(ctx.Request.Header.Peek("CF-IPCountry"))]++
	s.referer[string(ctx.Referer())]++
	s.host[string(ctx.Host())]++
	s.mu.Unlock()
	if !ok {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString("not found\n")
		return
	}
	ctx.Response.Header.Set("Location", "https://example.com/"+code)
	ctx.SetStatusCode(status)
}

// snapshot returns a copy of the per-code hits and the 404 count.
func (s *testServer) snapshot() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hits := make(map[string]int, len(s.hits))
	for k, v := range s.hits {
		hits[k] = v
	}
	return hits, s.notFound
}
