package main

import (
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
)

// TestRejectedRequestsNotFormatted: the bytes of a request fasthttp
// refuses (a bare LF, headers over --max-header-bytes, a read timeout) are
// never formatted into its errors, so they reach no log, and refusing a
// flood of them costs no formatting of what the clients sent.
func TestRejectedRequestsNotFormatted(t *testing.T) {
	const secret = "Cookie: session=not-for-the-log"
	s, log := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.HTTP.ReadTimeout = 300 * time.Millisecond })
	for _, req := range []string{
		"GET /x HTTP/1.1\r\n" + secret + "\r\nHost: x\nX: y\n\n",                                // bare LF
		"GET /x HTTP/1.1\r\n" + secret + "\r\nX-Big: " + strings.Repeat("a", 9000) + "\r\n\r\n", // 431
		"GET /x HTTP/1.1\r\n" + secret + "\r\nX-Slow: ",                                         // 408
	} {
		if raw := rawRequest(t, s.Addr(), req); statusOf(raw) < 400 {
			t.Fatalf("%.40q: answered %q", req, raw)
		}
	}
	// The log line of the bare LF is written when its connection closes.
	testwait.For(t, 5*time.Second, "the connection error in the log", func() bool { return strings.Contains(log.String(), "error when serving connection") })
	if strings.Contains(log.String(), "not-for-the-log") {
		t.Fatalf("the log holds the refused request's bytes:\n%s", log.String())
	}
}
