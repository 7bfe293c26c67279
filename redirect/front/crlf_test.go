package front

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

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
