package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
)

// The HTTP limits of every listener (docs/security.md, "HTTP limits"),
// checked against real listeners on loopback. Waits are bounded by
// generous deadlines; nothing asserts on how long a limit took.

const (
	hardKey     = "hardening-test-admin-key"
	hardTimeout = 300 * time.Millisecond
	// waitLong bounds every wait for the server to act.
	waitLong = 10 * time.Second
)

// dialRaw opens a TCP connection that the test closes.
func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readUntilClosed reads c until the server closes it. It fails the test if
// the server has not closed it within waitLong. A reset after the server
// closed counts as closed.
func readUntilClosed(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %s; read so far: %q", waitLong, b)
	}
	return string(b)
}

// rawRequest sends one request with Connection: close and returns the
// whole answer.
func rawRequest(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialRaw(t, addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readUntilClosed(t, c)
}

func get(host, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
}

// statusOf returns the status code of a raw answer, 0 if there is none.
func statusOf(raw string) int {
	var code int
	fmt.Sscanf(raw, "HTTP/1.1 %d", &code)
	return code
}

// noServerHeader fails if a raw answer has a Server header.
func noServerHeader(t *testing.T, what, raw string) {
	t.Helper()
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "server:") {
			t.Errorf("%s: answer has a version banner %q", what, line)
		}
	}
	if strings.Contains(strings.ToLower(raw), "fasthttp") {
		t.Errorf("%s: answer names the server software:\n%s", what, raw)
	}
}

// checkSlowloris trickles a request's headers one byte at a time: the
// server closes the connection (after its read timeout), while a normal
// request on another connection is answered wantStatus. wantAnswer is the
// status the slow connection may get before the close (0: none expected).
func checkSlowloris(t *testing.T, addr, path string, wantStatus, wantAnswer int) {
	t.Helper()
	slow := dialRaw(t, addr)
	io.WriteString(slow, "GET "+path+" HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := slow.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	if got := statusOf(rawRequest(t, addr, get("x", path))); got != wantStatus {
		t.Fatalf("a normal request beside a slow one got %d, want %d", got, wantStatus)
	}
	raw := readUntilClosed(t, slow)
	if got := statusOf(raw); raw != "" && got != wantAnswer {
		t.Fatalf("slow connection answered %q, want status %d or nothing", raw, wantAnswer)
	}
	noServerHeader(t, "slowloris answer", raw)
}

// checkBodyNeverSent sends a request whose body never comes: the server
// cuts it off. It returns the answer, if any.
func checkBodyNeverSent(t *testing.T, addr string) string {
	t.Helper()
	c := dialRaw(t, addr)
	io.WriteString(c, "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hardKey+
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	raw := readUntilClosed(t, c)
	if s := statusOf(raw); s >= 200 && s < 300 {
		t.Fatalf("a request without its body succeeded: %q", raw)
	}
	return raw
}

// checkHugeHeaders sends a 64 KiB cookie: the answer is 431 and the
// connection is closed; a normal request still gets wantStatus.
func checkHugeHeaders(t *testing.T, addr, path string, wantStatus int) {
	t.Helper()
	c := dialRaw(t, addr)
	go io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nCookie: big="+strings.Repeat("x", 64<<10)+"\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitLong))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 431 ") {
		t.Fatalf("64 KiB of headers: status line %q, %v; want 431", status, err)
	}
	if got := statusOf(rawRequest(t, addr, get("x", path))); got != wantStatus {
		t.Fatalf("after huge headers a normal request got %d, want %d", got, wantStatus)
	}
}

// holdConn opens a keep-alive connection that has been served one request
// (answered wantStatus), so it holds a slot of the listener's caps. It
// retries while the slot of a connection closed just before is not free
// yet.
func holdConn(t *testing.T, addr, path string, wantStatus int) net.Conn {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		c := dialRaw(t, addr)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(waitLong))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == wantStatus && !resp.Close {
				return c
			}
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("cannot open a connection that is served: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkMaxConns: with max 2 open connections, a third gets 503 and is
// closed; once one of the two is closed a new one is served.
func checkMaxConns(t *testing.T, addr, path string, wantStatus int) {
	t.Helper()
	c1 := holdConn(t, addr, path, wantStatus)
	holdConn(t, addr, path, wantStatus)
	raw := rawRequest(t, addr, get("x", path))
	if statusOf(raw) != 503 || !strings.Contains(raw, "too many connections") {
		t.Fatalf("third connection: %q, want 503", raw)
	}
	noServerHeader(t, "503 of --max-conns", raw)
	c1.Close()
	deadline := time.Now().Add(waitLong)
	for {
		got := statusOf(rawRequest(t, addr, get("x", path)))
		if got == wantStatus {
			break
		}
		if got != 503 || time.Now().After(deadline) {
			t.Fatalf("after closing a connection: %d, want %d", got, wantStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustStartHardServe(t *testing.T, mod func(*ServeConfig)) *Serve {
	t.Helper()
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.API.AdminKey = hardKey
		c.HTTP.ReadTimeout = hardTimeout
		if mod != nil {
			mod(c)
		}
	})
	// A client that keeps no connection open: it would hold a slot of the
	// caps under test.
	client := &http.Client{Timeout: waitLong, Transport: &http.Transport{DisableKeepAlives: true}}
	r, _ := http.NewRequest("POST", "http://"+s.Addr()+"/api/v1/links", strings.NewReader(`{"code":"hard","destination":"https://example.com/h","status":302}`))
	r.Header.Set("Authorization", "Bearer "+hardKey)
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	return s
}

func TestHardeningServe(t *testing.T) {
	s := mustStartHardServe(t, nil)
	addr := s.Addr()
	t.Run("slowloris", func(t *testing.T) { checkSlowloris(t, addr, "/hard", 302, 408) })
	t.Run("body never sent", func(t *testing.T) {
		raw := checkBodyNeverSent(t, addr)
		if statusOf(raw) != 408 || !strings.Contains(raw, "application/problem+json") {
			t.Fatalf("body never sent: %q, want a 408 problem", raw)
		}
	})
	t.Run("huge headers", func(t *testing.T) { checkHugeHeaders(t, addr, "/hard", 302) })
	t.Run("no server header", func(t *testing.T) {
		for _, path := range []string{"/hard", "/nope", "/healthz", "/api/v1/links", "/metrics"} {
			noServerHeader(t, path, rawRequest(t, addr, get("x", path)))
		}
	})

	t.Run("max conns", func(t *testing.T) {
		s := mustStartHardServe(t, func(c *ServeConfig) { c.HTTP.ReadTimeout = waitLong; c.HTTP.MaxConns = 2 })
		checkMaxConns(t, s.Addr(), "/hard", 302)
	})
	t.Run("max conns per ip", func(t *testing.T) {
		s := mustStartHardServe(t, func(c *ServeConfig) { c.HTTP.ReadTimeout = waitLong; c.HTTP.MaxConnsPerIP = 1 })
		holdConn(t, s.Addr(), "/hard", 302)
		if raw := rawRequest(t, s.Addr(), get("x", "/hard")); statusOf(raw) != 429 {
			t.Fatalf("second connection from one IP: %q, want 429", raw)
		}
	})
	t.Run("hosts", func(t *testing.T) {
		s := mustStartHardServe(t, func(c *ServeConfig) {
			c.HTTP.Hosts = "go.example.com, Other.Example"
			c.API.PublicURL = "https://short.example"
		})
		for host, want := range map[string]int{
			"go.example.com": 302, "GO.EXAMPLE.COM:8080": 302, "other.example.": 302, "short.example:443": 302,
			"evil.example": 421, s.Addr(): 421, "go.example.com.evil": 421, "[::1]:80": 421,
		} {
			if got := statusOf(rawRequest(t, s.Addr(), get(host, "/hard"))); got != want {
				t.Errorf("Host %q: %d, want %d", host, got, want)
			}
		}
		if m := rawRequest(t, s.Addr(), get("x", "/metrics")); !strings.Contains(m, "qredge_http_misdirected_total 4\n") {
			t.Errorf("metrics lack qredge_http_misdirected_total 4:\n%s", m)
		}
		// Only scans are checked: health and the API answer on any host.
		if got := statusOf(rawRequest(t, s.Addr(), get("10.0.0.1", "/healthz"))); got != 200 {
			t.Errorf("/healthz on another host: %d", got)
		}
		if got := statusOf(rawRequest(t, s.Addr(), get("10.0.0.1", "/api/v1/links"))); got != 401 {
			t.Errorf("/api/v1/links on another host: %d", got)
		}
	})
}

// mustStartRedisHard starts a Redis server holding the edge's link "hard"
// and returns its address.
func mustStartRedisHard(t *testing.T) string {
	t.Helper()
	redisAddr := redistest.MustStart(t, redistest.Options{}).Addr()
	st := mustOpenRedis(t, redisAddr, DefaultEdgeConfig().Redis.Prefix)
	if _, err := st.CreateLink(context.Background(), &store.Link{Code: "hard", Destination: "https://example.com/h", Status: 302}); err != nil {
		t.Fatal(err)
	}
	return redisAddr
}

func TestHardeningEdge(t *testing.T) {
	redisAddr := mustStartRedisHard(t)
	start := func(mod func(*EdgeConfig)) *Edge {
		e := mustStartEdge(t, redisAddr, func(c *EdgeConfig) {
			c.HTTP.ReadTimeout = hardTimeout
			if mod != nil {
				mod(c)
			}
		})
		waitReady(t, e)
		return e
	}
	e := start(nil)
	t.Run("slowloris", func(t *testing.T) { checkSlowloris(t, e.Addr(), "/hard", 302, 408) })
	t.Run("huge headers", func(t *testing.T) { checkHugeHeaders(t, e.Addr(), "/hard", 302) })
	t.Run("body too large", func(t *testing.T) {
		raw := rawRequest(t, e.Addr(), "GET /hard HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		if statusOf(raw) != 413 {
			t.Fatalf("scan with a 100 kB body: %q, want 413", raw)
		}
	})
	t.Run("no server header", func(t *testing.T) {
		for _, path := range []string{"/hard", "/nope"} {
			noServerHeader(t, path, rawRequest(t, e.Addr(), get("x", path)))
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/nope"} {
			noServerHeader(t, "admin "+path, rawRequest(t, e.AdminAddr(), get("x", path)))
		}
	})
	t.Run("max conns", func(t *testing.T) {
		e := start(func(c *EdgeConfig) { c.HTTP.ReadTimeout = waitLong; c.HTTP.MaxConns = 2 })
		checkMaxConns(t, e.Addr(), "/hard", 302)
		m := rawRequest(t, e.AdminAddr(), get("x", "/metrics"))
		if !strings.Contains(m, `qredge_http_connections_refused_total{reason="max_conns"} `) || strings.Contains(m, `qredge_http_connections_refused_total{reason="max_conns"} 0`) ||
			!strings.Contains(m, "qredge_http_connections_open ") {
			t.Errorf("metrics lack the refused connection:\n%s", m)
		}
	})
	t.Run("hosts", func(t *testing.T) {
		e := start(func(c *EdgeConfig) { c.HTTP.Hosts = "go.example.com" })
		// An HTTP/1.1 request with an empty Host is refused by fasthttp.
		for host, want := range map[string]int{"go.example.com": 302, "Go.Example.Com:80": 302, "evil.example": 421, "": 400} {
			if got := statusOf(rawRequest(t, e.Addr(), get(host, "/hard"))); got != want {
				t.Errorf("Host %q: %d, want %d", host, got, want)
			}
		}
	})
}

func TestHardeningAPI(t *testing.T) {
	redisAddr := redistest.MustStart(t, redistest.Options{}).Addr()
	start := func(mod func(*APIConfig)) *APIServer {
		return mustStartAPIServer(t, redisAddr, func(c *APIConfig) {
			c.API.AdminKey = hardKey
			c.HTTP.ReadTimeout = hardTimeout
			if mod != nil {
				mod(c)
			}
		})
	}
	a := start(nil)
	// net/http closes a connection whose headers are late without an answer.
	t.Run("slowloris", func(t *testing.T) { checkSlowloris(t, a.Addr(), "/api/v1/links", 401, 0) })
	t.Run("body never sent", func(t *testing.T) { checkBodyNeverSent(t, a.Addr()) })
	t.Run("huge headers", func(t *testing.T) { checkHugeHeaders(t, a.Addr(), "/api/v1/links", 401) })
	t.Run("no server header", func(t *testing.T) {
		for _, path := range []string{"/api/v1/links", "/nope"} {
			noServerHeader(t, path, rawRequest(t, a.Addr(), get("x", path)))
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			noServerHeader(t, "admin "+path, rawRequest(t, a.AdminAddr(), get("x", path)))
		}
	})
	t.Run("max conns", func(t *testing.T) {
		a := start(func(c *APIConfig) { c.HTTP.ReadTimeout = waitLong; c.HTTP.MaxConns = 2 })
		checkMaxConns(t, a.Addr(), "/api/v1/links", 401)
	})
	t.Run("max conns per ip", func(t *testing.T) {
		a := start(func(c *APIConfig) { c.HTTP.ReadTimeout = waitLong; c.HTTP.MaxConnsPerIP = 1 })
		c := holdConn(t, a.Addr(), "/api/v1/links", 401)
		defer c.Close()
		if raw := rawRequest(t, a.Addr(), get("x", "/api/v1/links")); statusOf(raw) != 429 {
			t.Fatalf("second connection from one IP: %q, want 429", raw)
		}
	})
	t.Run("hosts", func(t *testing.T) {
		a := start(func(c *APIConfig) { c.HTTP.Hosts = "api.example.com" })
		for host, want := range map[string]int{"api.example.com": 401, "API.example.com:443": 401, "go.example.com": 421, a.Addr(): 421} {
			raw := rawRequest(t, a.Addr(), get(host, "/api/v1/links"))
			if got := statusOf(raw); got != want {
				t.Errorf("Host %q: %d, want %d", host, got, want)
			}
			if want == 421 && (!strings.Contains(raw, "application/problem+json") || !strings.Contains(raw, `"code":"misdirected"`)) {
				t.Errorf("Host %q: 421 without its problem+json body: %q", host, raw)
			}
		}
		if m := rawRequest(t, a.AdminAddr(), get("x", "/metrics")); !strings.Contains(m, "qredge_http_misdirected_total 2\n") {
			t.Errorf("metrics lack qredge_http_misdirected_total 2:\n%s", m)
		}
	})
	// net/http applies --max-header-bytes with 4 KiB of slack; the admin
	// listener has a fixed 8 KiB.
	t.Run("admin huge headers", func(t *testing.T) { checkHugeHeaders(t, a.AdminAddr(), "/healthz", 200) })
}
