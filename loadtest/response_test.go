package loadtest

import (
	"testing"
)

func TestParseHead(t *testing.T) {
	f := func(head string, status, length int, closing bool, wantErr error) {
		t.Helper()
		end := headEnd([]byte(head), 0)
		if end != len(head) {
			t.Fatalf("headEnd(%q) = %d, want %d", head, end, len(head))
		}
		s, l, c, err := parseHead([]byte(head))
		if err != wantErr {
			t.Fatalf("parseHead(%q): error %v, want %v", head, err, wantErr)
		}
		if err == nil && (s != status || l != length || c != closing) {
			t.Fatalf("parseHead(%q) = %d %d %v, want %d %d %v", head, s, l, c, status, length, closing)
		}
	}
	f("HTTP/1.1 302 Found\r\nServer: qredge\r\nContent-Length: 0\r\nLocation: https://example.com/\r\n\r\n", 302, 0, false, nil)
	f("HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\n\r\n", 404, 10, false, nil)
	f("HTTP/1.1 301 Moved\r\nContent-Length:  7 \r\nConnection: close\r\n\r\n", 301, 7, true, nil)
	f("HTTP/1.0 302 Found\r\nContent-Length: 0\r\n\r\n", 302, 0, true, nil)
	f("HTTP/1.0 302 Found\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n", 302, 0, false, nil)
	f("HTTP/1.1 204\r\n\r\n", 204, 0, false, nil)
	f("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n", 304, 0, false, nil)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, false, errChunked)
	f("HTTP/1.1 200 OK\r\n\r\n", 0, 0, false, errNoLength)
	f("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0, 0, false, errLength)
	f("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 0, 0, false, errLength)
	f("HTTP/1.1 200 OK\r\nContent-Length: 9999999999\r\n\r\n", 0, 0, false, errLength)
	f("HTTP/2 200 OK\r\n\r\n", 0, 0, false, errStatusLine)
	f("HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, false, errStatusLine)
	f("HTTP/1.1 2000 OK\r\n\r\n", 0, 0, false, errStatusLine)

	// A head arriving in pieces is found where it ends.
	h := []byte("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\nextra")
	for cut := 1; cut < len(h); cut++ {
		if got := headEnd(h[:cut], 0); got >= 0 && cut < len(h)-5 {
			t.Fatalf("headEnd of %d bytes = %d, want -1", cut, got)
		}
		if got := headEnd(h, cut); got != len(h)-5 && cut < len(h)-5 {
			t.Fatalf("headEnd from %d = %d, want %d", cut, got, len(h)-5)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 302 Found\r\nContent-Length: 0\r\nLocation: https://example.com/\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end := headEnd(b, 0)
		if end < 0 {
			return
		}
		status, length, _, err := parseHead(b[:end])
		if err == nil && (status < 0 || status > 999 || length < 0) {
			t.Fatalf("parseHead(%q) = status %d length %d", b[:end], status, length)
		}
	})
}
