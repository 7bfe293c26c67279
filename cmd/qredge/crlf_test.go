package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
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
	redisAddr := redistest.MustStart(t, redistest.Options{}).Addr()
	st := mustOpenRedis(t, redisAddr, DefaultEdgeConfig().Redis.Prefix)
	if _, err := st.CreateLink(context.Background(), &store.Link{Code: "hard", Destination: "https://example.com/h", Status: 302}); err != nil {
		t.Fatal(err)
	}
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
	a := mustStartAPIServer(t, redisAddr, func(c *APIConfig) { c.APIKey = hardKey; c.HTTP.ReadTimeout = crlfReadTimeout })
	checkBareLF(t, a.Addr(), "/api/v1/links", 401, "400 Bad Request")
	body := "{\n\"code\": \"lf\",\n\"destination\": \"https://example.com/lf\"\n}"
	raw := rawRequest(t, a.Addr(), "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+hardKey+
		"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body+get("x", "/api/v1/links/lf"))
	if first, rest, _ := strings.Cut(raw, "\r\n\r\n"); statusOf(first) != 201 || !strings.Contains(rest, "HTTP/1.1 401 ") && !strings.Contains(rest, "HTTP/1.1 200 ") {
		t.Errorf("a body with LFs, then a read: %q, want 201 then an answer", raw)
	}
}

// chunkConn is a net.Conn whose reads return the given chunks, one each.
type chunkConn struct {
	net.Conn
	chunks []string
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// TestCRLFConn: what the connection lets through of a stream of requests
// cut into reads at given places, and whether it ends in errBareLF.
func TestCRLFConn(t *testing.T) {
	f := func(name string, bare bool, want string, chunks ...string) {
		t.Helper()
		c := &crlfConn{Conn: &chunkConn{chunks: chunks}}
		var got bytes.Buffer
		buf := make([]byte, 64)
		var err error
		for {
			var n int
			n, err = c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if bare != errors.Is(err, errBareLF) {
			t.Fatalf("%s: read error %v, want bare LF %v", name, err, bare)
		}
		if got.String() != want {
			t.Fatalf("%s: let through %q, want %q", name, got.String(), want)
		}
	}
	req := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	f("one request", false, req, req)
	f("byte by byte", false, req, strings.Split(req, "")...)
	f("pipelined", false, req+req, req+req)
	f("leading CRLF", false, "\r\n"+req, "\r\n"+req)
	f("bare LF in the request line", true, "GET /a HTTP/1.1", "GET /a HTTP/1.1\nHost: x\n\n")
	f("bare LF at the end", true, "GET /a HTTP/1.1\r\nHost: x\r\n", "GET /a HTTP/1.1\r\nHost: x\r\n\n")
	f("bare LF at a read's start", true, "GET /a HTTP/1.1", "GET /a HTTP/1.1", "\nHost: x\r\n\r\n")
	f("CR and LF in two reads", false, req, "GET /a HTTP/1.1\r", "\nHost: x\r", "\n\r", "\n")
	f("second request", true, req+"GET /b HTTP/1.1\r\nHost: x", req+"GET /b HTTP/1.1\r\nHost: x\n\n")
	f("leading bare LF", true, "", "\nGET /a HTTP/1.1\r\n\r\n")
	post := "POST /a HTTP/1.1\r\nHost: x\r\ncontent-LENGTH:  7 \r\n\r\n"
	f("body with LFs", false, post+"a\nb\n\nc"+req, post+"a\nb\n\nc"+req)
	f("body over reads", false, post+"a\nb\n\nc"+req, post+"a\n", "b\n", "\nc"+req[:3], req[3:])
	f("body, then bare LF", true, post+"a\nb\n\ncGET /a HTTP/1.1", post+"a\nb\n\ncGET /a HTTP/1.1\n")
	long := "POST /a HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("y", 100) + "\r\nContent-Length: 2\r\n\r\n\n\n"
	f("header split over reads", false, long+req, long[:40], long[40:70], long[70:]+req)
	cl := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
	f("Content-Length split over reads", false, cl+"\n\n\n"+req, cl[:35], cl[35:]+"\n\n\n"+req)
	// Framing it does not follow: the rest of the connection is not
	// checked (the server reads it by its own rules).
	chunked := "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\n\n\r\n0\r\n\r\n"
	f("chunked", false, chunked+"GET /b HTTP/1.1\n\n", chunked+"GET /b HTTP/1.1\n\n")
	bad := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: x1\r\n\r\n"
	f("unreadable Content-Length", false, bad+"\n", bad+"\n")
	two := "POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
	f("two Content-Lengths", false, two+"\n\n\n", two+"\n\n\n")
}

// FuzzCRLFConn: whatever the stream and however it is cut into reads,
// what is let through is a prefix of it (all of it without a bare LF),
// and the same for every cut.
func FuzzCRLFConn(f *testing.F) {
	f.Add("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\nHost: x\n\n", uint8(3))
	f.Add("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n\n\n\nGET /a HTTP/1.1\r\n\r\n", uint8(7))
	f.Add("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n0\r\n\r\n", uint8(1))
	f.Add("POST /a HTTP/1.1\r\nContent-Length:                                   1\r\n\r\n\nGET /\n", uint8(5))
	f.Fuzz(func(t *testing.T, stream string, cut uint8) {
		read := func(chunks []string) (string, bool) {
			c := &crlfConn{Conn: &chunkConn{chunks: chunks}}
			var got bytes.Buffer
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					return got.String(), errors.Is(err, errBareLF)
				}
			}
		}
		whole, bare := read([]string{stream})
		if !strings.HasPrefix(stream, whole) || !bare && whole != stream {
			t.Fatalf("let through %q of %q (bare LF %v)", whole, stream, bare)
		}
		size := int(cut%16) + 1
		var chunks []string
		for s := stream; len(s) > 0; s = s[min(size, len(s)):] {
			chunks = append(chunks, s[:min(size, len(s))])
		}
		if got, gotBare := read(chunks); got != whole || gotBare != bare {
			t.Fatalf("in reads of %d bytes: let through %q (bare LF %v), in one read %q (%v)", size, got, gotBare, whole, bare)
		}
	})
}
