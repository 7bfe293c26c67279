package main

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
)

// A request whose lines end in a bare LF is answered 400 at once and the
// connection closed, on every public listener, long before the read
// timeout. The listeners run with a read timeout far past waitLong, so a
// server that waits for a CRLF fails the test instead of answering 408.

const crlfReadTimeout = 5 * time.Minute

// checkBareLF sends requests with bare-LF line endings, each on a new
// connection, and wants 400 and a close; a well-formed request gets
// wantStatus, also on a connection whose next request ends its lines in a
// bare LF. The 400's body has wantBody.
func checkBareLF(t *testing.T, addr, path string, wantStatus int, wantBody string) {
	t.Helper()
	for _, req := range []string{
		"GET " + path + " HTTP/1.1\nHost: x\n\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\n\r\n",
		"GET " + path + " HTTP/1.1\nHost: x\r\n\r\n",
		"GET " + path + " HTTP/1.1\r\nHost: x\r\n\n",
		"\nGET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		raw := rawRequest(t, addr, req)
		if statusOf(raw) != 400 || !strings.Contains(raw, wantBody) {
			t.Errorf("%q: answered %q, want 400 with %q", req, raw, wantBody)
		}
		noServerHeader(t, "bare LF answer", raw)
	}
	// The bare LF in the second request of a keep-alive connection, sent
	// with the first.
	raw := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\nGET "+path+" HTTP/1.1\nHost: x\n\n")
	if first, rest, _ := strings.Cut(raw, "\r\n\r\n"); statusOf(first) != wantStatus || !strings.Contains(rest, "HTTP/1.1 400 ") {
		t.Errorf("pipelined: answered %q, want %d then 400", raw, wantStatus)
	}
	// The same, the second request sent after the first's answer.
	c := dialRaw(t, addr)
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(waitLong))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || statusOf(string(buf[:n])) != wantStatus {
		t.Fatalf("keep-alive: first answer %q (%v), want %d", buf[:n], err, wantStatus)
	}
	io.WriteString(c, "GET "+path+" HTTP/1.1\n")
	time.Sleep(20 * time.Millisecond) // the rest in another packet
	io.WriteString(c, "Host: x\n\n")
	if raw := readUntilClosed(t, c); statusOf(raw) != 400 {
		t.Errorf("keep-alive: second answer %q, want 400", raw)
	}
}

func TestBareLFServe(t *testing.T) {
	s := mustStartHardServe(t, func(c *ServeConfig) { c.HTTP.ReadTimeout = crlfReadTimeout })
	checkBareLF(t, s.Addr(), "/hard", 302, `"detail":"malformed HTTP request: lines must end in CRLF"`)
	// An API body may hold bare LFs: only the head is checked. Two
	// requests on one connection, the first with a body.
	body := "{\n\"code\": \"lf\",\n\"destination\": \"https://example.com/lf\"\n}"
	raw := rawRequest(t, s.Addr(), "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hardKey+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body+get("x", "/lf"))
	if first, rest, _ := strings.Cut(raw, "\r\n\r\n"); statusOf(first) != 201 || !strings.Contains(rest, "HTTP/1.1 302 ") {
		t.Errorf("a body with LFs, then a scan: %q, want 201 then 302", raw)
	}
	if m := rawRequest(t, s.Addr(), get("x", "/readyz")); statusOf(m) != 200 {
		t.Errorf("readyz after the bare-LF requests: %q", m)
	}
}

func TestBareLFEdge(t *testing.T) {
	redisAddr := mustStartRedisHard(t)
	e := mustStartEdge(t, redisAddr, func(c *EdgeConfig) { c.HTTP.ReadTimeout = crlfReadTimeout })
	waitReady(t, e)
	checkBareLF(t, e.Addr(), "/hard", 302, "\r\n\r\nmalformed HTTP request: lines must end in CRLF\n")
	// With the connection caps off, the listener is not wrapped by them.
	e = mustStartEdge(t, redisAddr, func(c *EdgeConfig) { c.HTTP.ReadTimeout = crlfReadTimeout; c.HTTP.MaxConns = 0 })
	waitReady(t, e)
	checkBareLF(t, e.Addr(), "/hard", 302, "\r\n\r\nmalformed HTTP request: lines must end in CRLF\n")
}

func TestBareLFAPI(t *testing.T) {
	redisAddr := redistest.MustStart(t, redistest.Options{}).Addr()
	a := mustStartAPIServer(t, redisAddr, func(c *APIConfig) { c.API.AdminKey = hardKey; c.HTTP.ReadTimeout = crlfReadTimeout })
	checkBareLF(t, a.Addr(), "/api/v1/links", 401, "400 Bad Request")
	body := "{\n\"code\": \"lf\",\n\"destination\": \"https://example.com/lf\"\n}"
	raw := rawRequest(t, a.Addr(), "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hardKey+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body+get("x", "/api/v1/links/lf"))
	if first, rest, _ := strings.Cut(raw, "\r\n\r\n"); statusOf(first) != 201 || !strings.Contains(rest, "HTTP/1.1 401 ") && !strings.Contains(rest, "HTTP/1.1 200 ") {
		t.Errorf("a body with LFs, then a read: %q, want 201 then an answer", raw)
	}
}
