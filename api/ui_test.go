package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestConsoleFiles: the console's files are served with a strict CSP and
// no framing, are small, and are not served at all with --ui=false.
func TestConsoleFiles(t *testing.T) {
	e := mustStartAPI(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := noFollow.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	total := 0
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/app.css"} {
		resp, body := get(path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") == "" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		if strings.Contains(body, "localStorage") || strings.Contains(body, "sessionStorage") || strings.Contains(body, "eval(") {
			t.Errorf("GET %s uses browser storage or eval", path)
		}
		total += len(body)
	}
	// The first page, uncompressed: the budget is 150 KB.
	if total > 150<<10 {
		t.Errorf("the console's first page is %d bytes", total)
	}
	if _, body := get("/ui/"); strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Error("the page has inline script or style")
	}
	if resp, _ := get("/ui"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get("/ui/nope/"); resp.StatusCode != 404 {
		t.Errorf("GET /ui/nope/: %d", resp.StatusCode)
	}
	e.call("POST", "/ui/", "", "x", nil, 405, nil)

	off := startAPI(t, apiOptions{edit: func(c *Config) { c.UI = false }})
	off.call("GET", "/ui/", "", "", nil, 404, nil)
}
