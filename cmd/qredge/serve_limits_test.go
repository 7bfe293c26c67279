package main

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeTooLargeNamesTheLimit: a body far over every limit is refused
// unread with a 413 that names the limit of its route: the bulk route's
// own, not the 1 MiB of the others.
func TestServeTooLargeNamesTheLimit(t *testing.T) {
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.API.AdminKey = "serve-limits-test-key-0123" })
	f := func(path, wantLimit, wantFlag string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// The headers and the first 16 KiB of the body (fasthttp reads a
		// streamed body's first 8 KiB with the headers); the rest is
		// refused unread.
		req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer serve-limits-test-key-0123\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(1<<30) + "\r\n\r\n" + strings.Repeat("x", 16<<10)
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		body := string(b[:n])
		if resp.StatusCode != 413 || !strings.Contains(body, wantLimit) || !strings.Contains(body, wantFlag) {
			t.Fatalf("POST %s: %d %s, want 413 naming %s (%s)", path, resp.StatusCode, body, wantLimit, wantFlag)
		}
	}
	f("/api/v1/links/bulk", strconv.Itoa(int(DefaultServeConfig().API.MaxBulkBodyBytes)), "--max-bulk-body-bytes")
	f("/api/v1/links", strconv.Itoa(int(DefaultServeConfig().API.MaxBodyBytes)), "--max-body-bytes")
}

// TestServeAdminListen: with --admin-listen, serve answers /readyz,
// /metrics and /debug/pprof/ there; /debug/pprof/ is never on --listen.
func TestServeAdminListen(t *testing.T) {
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.AdminListen = "127.0.0.1:0" })
	for _, path := range []string{"/readyz", "/metrics", "/debug/pprof/"} {
		resp, body := req(t, "GET", "http://"+s.AdminAddr()+path, "", "")
		if resp.StatusCode != 200 || (path == "/readyz" && !strings.HasPrefix(body, "ready: ")) {
			t.Fatalf("admin %s: %d %.80s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := req(t, "GET", "http://"+s.Addr()+"/debug/pprof/", "", ""); resp.StatusCode == 200 {
		t.Fatal("/debug/pprof/ answers on the public listener")
	}
}
