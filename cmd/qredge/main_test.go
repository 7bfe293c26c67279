package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/redirect/geoip/geoiptest"
)

// mustStartServe starts 'qredge serve' in-process on a free loopback port
// with the real start-up code.
func mustStartServe(tb testing.TB, dataDir string, mod func(*ServeConfig)) (*Serve, *testlog.Buffer) {
	tb.Helper()
	cfg := DefaultServeConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.API.RateLimit = -1 // waitFor polls the API every 2 ms; api/ratelimit_test.go tests the limits
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Check(); err != nil {
		tb.Fatal(err)
	}
	stderr := &testlog.Buffer{}
	s := &Serve{Config: cfg, Log: newLogger(stderr, "text", "debug"), Stderr: stderr}
	if err := s.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if !s.stopping.Load() {
			s.Close()
		}
	})
	return s, stderr
}

var apiKeyLine = regexp.MustCompile(`(?m)^api key: (qk_\S+)$`)

// mustStartServeFirst starts serve on the new data directory dir and
// returns it with the admin key it prints on its first start.
func mustStartServeFirst(t *testing.T, dir string) (*Serve, string) {
	t.Helper()
	s, stderr := mustStartServe(t, dir, nil)
	m := apiKeyLine.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no 'api key:' line on first start:\n%s", stderr)
	}
	return s, m[1]
}

// noRedirect is an HTTP client that shows redirects instead of following
// them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func req(t testing.TB, method, url, key, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := noRedirect.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// runCmd runs 'qredge args...' in-process and returns the exit code,
// stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestServeEndToEndInProcess(t *testing.T) {
	dir := t.TempDir()
	s, key := mustStartServeFirst(t, dir)
	base := "http://" + s.Addr()

	resp, body := req(t, "GET", base+"/readyz", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "ready") {
		t.Fatalf("readyz %d %q", resp.StatusCode, body)
	}
	if resp, _ := req(t, "GET", base+"/healthz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}

	resp, body = req(t, "POST", base+"/api/v1/links", key, `{"code": "spring24", "destination": "https://example.com/a", "status": 302}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create %d %s", resp.StatusCode, body)
	}
	var created struct {
		ShortURL string `json:"short_url"`
		Version  uint64 `json:"version"`
	}
	json.Unmarshal([]byte(body), &created)
	if created.ShortURL != base+"/spring24" {
		t.Fatalf("short_url %q, want %q", created.ShortURL, base+"/spring24")
	}
	// The link redirects at once: the API change reached the table.
	resp, _ = req(t, "GET", base+"/spring24", "", "")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.com/a" || resp.Header.Get("Server") != "" {
		t.Fatalf("redirect %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = req(t, "PATCH", base+"/api/v1/links/spring24", key, `{"destination":"https://example.com/b","status":301}`)
	if resp.StatusCode != 200 {
		t.Fatalf("patch %d %s", resp.StatusCode, body)
	}
	resp, _ = req(t, "HEAD", base+"/spring24", "", "")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.com/b" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=3600") {
		t.Fatalf("after patch %d %v", resp.StatusCode, resp.Header)
	}
	req(t, "PATCH", base+"/api/v1/links/spring24", key, `{"disabled":true}`)
	if resp, _ = req(t, "GET", base+"/spring24", "", ""); resp.StatusCode != 410 {
		t.Fatalf("disabled link answered %d", resp.StatusCode)
	}
	req(t, "POST", base+"/api/v1/links", key, `{"code": "keep", "destination": "https://example.com/keep"}`)
	if resp, _ = req(t, "DELETE", base+"/api/v1/links/spring24", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete %d", resp.StatusCode)
	}
	if resp, _ = req(t, "GET", base+"/spring24", "", ""); resp.StatusCode != 404 {
		t.Fatalf("deleted link answered %d", resp.StatusCode)
	}
	// Reserved paths are not codes.
	resp, body = req(t, "GET", base+"/api/v1/nope", key, "")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("/api/v1/nope %d %s", resp.StatusCode, body)
	}
	resp, body = req(t, "GET", base+"/api", key, "")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("/api %d %s", resp.StatusCode, body)
	}
	// Bodies over the limit get a problem 413 from the server itself.
	resp, body = req(t, "POST", base+"/api/v1/links", key, strings.Repeat("x", 2<<20))
	if resp.StatusCode != 413 || !strings.Contains(body, `"too_large"`) {
		t.Fatalf("large body %d %s", resp.StatusCode, body)
	}
	// Far larger bodies are refused before they are read (past the first
	// 8 KiB, which the server takes with the headers), with the same
	// problem.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n%s", make([]byte, 8<<10))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	raw, _ := io.ReadAll(conn)
	conn.Close()
	if !bytes.HasPrefix(raw, []byte("HTTP/1.1 413")) || !bytes.Contains(raw, []byte("application/problem+json")) || !bytes.Contains(raw, []byte(`"too_large"`)) {
		t.Fatalf("huge body answer:\n%s", raw)
	}
	// Metrics reflect what happened.
	_, body = req(t, "GET", base+"/metrics", "", "")
	for _, want := range []string{`qredge_redirects_total{result="redirect"} 2`, `qredge_redirects_total{result="gone"} 1`,
		`qredge_redirects_total{result="not_found"} 1`, "qredge_links 1", `qredge_api_requests_total{method="POST",route="/api/v1/links",status="201"} 2`,
		"qredge_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// Restart: the link is still there and no new key is printed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, stderr2 := mustStartServe(t, dir, nil)
	if apiKeyLine.MatchString(stderr2.String()) {
		t.Fatalf("a second start printed another key:\n%s", stderr2)
	}
	resp, _ = req(t, "GET", "http://"+s2.Addr()+"/keep", "", "")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.com/keep" {
		t.Fatalf("after restart %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ = req(t, "GET", "http://"+s2.Addr()+"/api/v1/links/keep", key, ""); resp.StatusCode != 200 {
		t.Fatalf("key from the first start refused after restart: %d", resp.StatusCode)
	}
}

func TestServeConfiguredKey(t *testing.T) {
	const key = "my-own-admin-key-123456"
	s, stderr := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.API.AdminKey = key
		c.API.PublicURL = "https://go.example.com"
	})
	if apiKeyLine.MatchString(stderr.String()) {
		t.Fatal("a key was generated although --api-key was set")
	}
	resp, body := req(t, "POST", "http://"+s.Addr()+"/api/v1/links", key, `{"code":"x","destination":"https://example.com/"}`)
	if resp.StatusCode != 201 || !strings.Contains(body, `"short_url":"https://go.example.com/x"`) {
		t.Fatalf("create with --api-key: %d %s", resp.StatusCode, body)
	}
	// The same key works for key management.
	if resp, body = req(t, "POST", "http://"+s.Addr()+"/api/v1/keys", key, `{"name":"ci","scope":"read"}`); resp.StatusCode != 201 {
		t.Fatalf("create key %d %s", resp.StatusCode, body)
	}
}

// TestServeShutdownFinishesWrites sends writes while the server shuts down:
// every write that was answered 201 is in the store afterwards.
func TestServeShutdownFinishesWrites(t *testing.T) {
	dir := t.TempDir()
	const key = "shutdown-test-admin-key"
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	var (
		mu       sync.Mutex
		answered []string
		wg       sync.WaitGroup
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; i < 200; i++ {
				code := fmt.Sprintf("w%dn%d", w, i)
				r, _ := http.NewRequest("POST", base+"/api/v1/links", strings.NewReader(fmt.Sprintf(`{"code":%q,"destination":"https://example.com/"}`, code)))
				r.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(r)
				if err != nil {
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode == 201 {
					mu.Lock()
					answered = append(answered, code)
					mu.Unlock()
				}
			}
		}(w)
	}
	// Shut down once writes are flowing (not after a fixed sleep, which a
	// loaded machine can outlast).
	testwait.For(t, 10*time.Second, "5 writes answered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answered) >= 5
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s2, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	mu.Lock()
	defer mu.Unlock()
	if len(answered) == 0 {
		t.Fatal("no write was answered before shutdown")
	}
	for _, code := range answered {
		resp, _ := req(t, "GET", "http://"+s2.Addr()+"/"+code, "", "")
		if resp.StatusCode != 302 {
			t.Fatalf("write %s was answered 201 but is lost after shutdown (%d)", code, resp.StatusCode)
		}
	}
	t.Logf("%d answered writes all survived shutdown", len(answered))
}

func TestReadyzWhileStopping(t *testing.T) {
	s, _ := mustStartServe(t, t.TempDir(), nil)
	s.stopping.Store(true)
	resp, body := req(t, "GET", "http://"+s.Addr()+"/readyz", "", "")
	if resp.StatusCode != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("readyz while stopping: %d %q", resp.StatusCode, body)
	}
	s.stopping.Store(false)
}

func TestCLIErrors(t *testing.T) {
	f := func(wantCode int, wantOut string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, &stdout, &stderr)
		if code != wantCode || !strings.Contains(stderr.String()+stdout.String(), wantOut) {
			t.Fatalf("qredge %v: exit %d, want %d; output:\n%s%s", args, code, wantCode, stdout.String(), stderr.String())
		}
	}
	dir := t.TempDir()
	f(2, "Usage:")
	f(2, `unknown command "frobnicate"`, "frobnicate")
	f(0, "qredge dev", "version")
	f(0, "QREDGE_DATA_DIR", "serve", "--help")
	f(2, "flag provided but not defined", "serve", "--nope")
	f(1, "--listen", "serve", "--listen", "nonsense")
	f(1, "--public-url", "serve", "--data-dir", dir, "--public-url", "go.example.com")
	f(1, "--not-found-url", "serve", "--data-dir", dir, "--not-found-url", "javascript:alert(1)")
	f(1, "--api-key must be at least 16", "serve", "--data-dir", dir, "--api-key", "short")
	f(1, "--log-format", "serve", "--data-dir", dir, "--log-format", "xml")
	f(1, `unexpected argument "extra"`, "serve", "extra")
	f(0, "QREDGE_DENY_DESTINATIONS", "serve", "--help")
	f(1, `--deny-destinations: deny entry "https://*.evil.example/": a URL prefix takes no wildcards`, "serve", "--data-dir", dir, "--deny-destinations", "ok.example,https://*.evil.example/")
	f(1, `--deny-destinations: deny entry "évil.example"`, "api", "--redis", "127.0.0.1:1", "--deny-destinations", "évil.example")
	f(1, `--short-domains: "https://b.example"`, "serve", "--data-dir", dir, "--short-domains", "a.example,https://b.example")
	f(2, "invalid boolean value \"maybe\" for -allow-http", "serve", "--data-dir", dir, "--allow-http=maybe")
	f(1, "--max-bulk-body-bytes 10", "serve", "--data-dir", dir, "--max-bulk-body-bytes", "10")
	f(1, "--max-bulk-body-bytes 10", "api", "--redis", "127.0.0.1:1", "--max-bulk-body-bytes", "10")
	f(2, "Usage:", "apikey")
	f(2, `unknown apikey command "frob"`, "apikey", "frob", "--data-dir", dir)
	f(1, "create needs --name", "apikey", "create", "--data-dir", dir)
	f(1, `--scope "root"`, "apikey", "create", "--name", "x", "--scope", "root", "--data-dir", dir)
	f(1, "revoke needs exactly one key ID", "apikey", "revoke", "--data-dir", dir)
	f(1, "not found", "apikey", "revoke", "nosuchid", "--data-dir", dir)
	f(1, "--server needs an admin key", "apikey", "list", "--server", "http://127.0.0.1:1")
	f(1, "--redis is required", "edge")
	f(1, "--redis is required", "api")
	f(1, `unknown scheme "http"`, "edge", "--redis", "http://x")
	f(0, "QREDGE_REDIS", "edge", "--help")
	f(0, "QREDGE_ADMIN_LISTEN", "api", "--help")
	f(1, "cannot reach Redis", "api", "--redis", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	f(1, "--read-timeout -1s: must be positive", "serve", "--data-dir", dir, "--read-timeout", "-1s")
	f(1, "--max-header-bytes 100", "serve", "--data-dir", dir, "--max-header-bytes", "100")
	f(1, "--max-conns-per-ip -1", "serve", "--data-dir", dir, "--max-conns-per-ip", "-1")
	f(1, "--max-conns -5", "edge", "--redis", "127.0.0.1:1", "--max-conns", "-5")
	f(1, "--hosts", "edge", "--redis", "127.0.0.1:1", "--hosts", "https://go.example.com")
	f(1, "--idle-timeout 0s", "api", "--redis", "127.0.0.1:1", "--idle-timeout", "0")
	f(1, "--write-timeout", "api", "--redis", "127.0.0.1:1", "--write-timeout", "-2s")
	f(1, `--hosts "api.example.com:443"`, "api", "--redis", "127.0.0.1:1", "--hosts", "api.example.com:443")
	f(1, "--max-conns-per-ip -3", "api", "--redis", "127.0.0.1:1", "--max-conns-per-ip", "-3")
	f(0, "QREDGE_MAX_CONNS_PER_IP", "edge", "--help")
}

func TestEnvOverridesDefaults(t *testing.T) {
	t.Setenv("QREDGE_LOG_FORMAT", "xml")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--data-dir", t.TempDir()}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), `--log-format "xml"`) {
		t.Fatalf("QREDGE_LOG_FORMAT not applied: %d %s", code, stderr.String())
	}
	// The command line wins over the environment.
	t.Setenv("QREDGE_LISTEN", "bad")
	stderr.Reset()
	if code := run(context.Background(), []string{"serve", "--listen", "also-bad:x:y", "--data-dir", t.TempDir()}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "also-bad") {
		t.Fatalf("command line did not win: %d %s", code, stderr.String())
	}
	t.Setenv("QREDGE_PERMANENT_MAX_AGE", "soon")
	stderr.Reset()
	if code := run(context.Background(), []string{"serve"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "QREDGE_PERMANENT_MAX_AGE") {
		t.Fatalf("bad env value: %d %s", code, stderr.String())
	}
}

func TestAPIKeyCommands(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"apikey", "create", "--name", "ci", "--scope", "read", "--data-dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("create: %d %s", code, stderr.String())
	}
	secret := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(secret, "qk_") {
		t.Fatalf("create printed %q", secret)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"apikey", "list", "--data-dir", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "ci") || strings.Contains(stdout.String(), secret) {
		t.Fatalf("list: %d %q", code, stdout.String())
	}
	id := strings.Fields(strings.Split(stdout.String(), "\n")[1])[0]

	// While serve runs, the data directory is locked: the command says so
	// and --server works instead.
	const admin = "apikey-test-admin-key"
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = admin })
	stderr.Reset()
	if code := run(context.Background(), []string{"apikey", "list", "--data-dir", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--server") {
		t.Fatalf("list on a locked dir: %d %s", code, stderr.String())
	}
	resp, _ := req(t, "GET", "http://"+s.Addr()+"/api/v1/links", secret, "")
	if resp.StatusCode != 200 {
		t.Fatalf("CLI-created key refused: %d", resp.StatusCode)
	}
	stdout.Reset()
	server := []string{"--server", "http://" + s.Addr(), "--api-key", admin}
	if code := run(context.Background(), append([]string{"apikey", "create", "--name", "remote", "--scope", "write"}, server...), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "qk_") {
		t.Fatalf("remote create: %d %s %s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), append([]string{"apikey", "list"}, server...), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "remote") {
		t.Fatalf("remote list: %d %s", code, stdout.String())
	}
	if code := run(context.Background(), append([]string{"apikey", "revoke", id}, server...), &stdout, &stderr); code != 0 {
		t.Fatalf("remote revoke: %d %s", code, stderr.String())
	}
	if resp, _ := req(t, "GET", "http://"+s.Addr()+"/api/v1/links", secret, ""); resp.StatusCode != 401 {
		t.Fatalf("revoked key still works: %d", resp.StatusCode)
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"apikey", "list", "--server", "http://" + s.Addr(), "--api-key", secret}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "401") {
		t.Fatalf("remote with a bad key: %d %s", code, stderr.String())
	}
}

func TestRecoverPanic(t *testing.T) {
	s, stderr := mustStartServe(t, t.TempDir(), nil)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/boom")
	func() {
		defer s.router.RecoverPanic(ctx)
		panic("boom")
	}()
	if ctx.Response.StatusCode() != 500 || string(ctx.Response.Header.ContentType()) != "application/problem+json" ||
		!strings.Contains(string(ctx.Response.Body()), `"internal"`) || strings.Contains(string(ctx.Response.Body()), "boom") {
		t.Fatalf("after panic: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if !strings.Contains(stderr.String(), "BUG: panic while serving a request") {
		t.Fatalf("panic not logged:\n%s", stderr)
	}
	_, body := req(t, "GET", "http://"+s.Addr()+"/metrics", "", "")
	if !strings.Contains(body, "qredge_http_panics_total 1") {
		t.Fatal("panic not counted")
	}
}

// TestServeRulesEndToEnd creates links with rules through the API of a real
// server with a GeoIP database and a trusted country header, scans them,
// and asks the resolve endpoint.
func TestServeRulesEndToEnd(t *testing.T) {
	db := geoiptest.WriteCountryDB(t, map[string]string{"127.0.0.0/8": "DE", "203.0.113.0/24": "FR"})
	const key = "rules-test-admin-key-123"
	s, stderr := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.API.AdminKey = key
		c.Redirect.GeoIPDB = db
		c.Redirect.CountryHeader = "X-Country"
		c.Redirect.CookieSecure = true
	})
	if !strings.Contains(stderr.String(), "GeoIP database loaded") {
		t.Fatalf("no GeoIP log line:\n%s", stderr)
	}
	base := "http://" + s.Addr()
	body := `{"code": "app", "destination": "https://example.com/",
	 "rules": [{"when": {"device": ["ios"]}, "destination": "https://apps.apple.com/app/id1"},
	           {"when": {"country": ["DE", "AT"], "lang": ["de"]}, "destination": "https://example.de/"},
	           {"when": {"query": {"src": "tv"}, "header": {"X-Test": "1"}, "cookie": {"beta": "on"}}, "destination": "https://example.com/beta"}],
	 "variants": [{"destination": "https://example.com/a", "weight": 50}, {"destination": "https://example.com/b", "weight": 50}],
	 "forward_query": true}`
	if resp, b := req(t, "POST", base+"/api/v1/links", key, body); resp.StatusCode != 201 {
		t.Fatalf("create %d %s", resp.StatusCode, b)
	}
	scan := func(path string, headers map[string]string) *http.Response {
		t.Helper()
		return scanAs(t, base, "GET", path, "", headers, "")
	}
	ios := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)"
	if loc := scan("/app", map[string]string{"User-Agent": ios}).Header.Get("Location"); loc != "https://apps.apple.com/app/id1" {
		t.Fatalf("ios: %q", loc)
	}
	// Loopback is DE in the test database.
	if loc := scan("/app?utm_source=tv", map[string]string{"Accept-Language": "de-DE,de;q=0.9"}).Header.Get("Location"); loc != "https://example.de/?utm_source=tv" {
		t.Fatalf("GeoIP country: %q", loc)
	}
	// The trusted header wins over GeoIP.
	if loc := scan("/app", map[string]string{"Accept-Language": "de", "X-Country": "FR"}).Header.Get("Location"); loc == "https://example.de/" {
		t.Fatal("country header ignored")
	}
	resp := scan("/app", nil)
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "qv_app=v") || !strings.Contains(cookie, "Secure") {
		t.Fatalf("variant cookie %q", cookie)
	}
	first := resp.Header.Get("Location")
	again := scan("/app", map[string]string{"Cookie": strings.SplitN(cookie, ";", 2)[0]})
	if again.Header.Get("Location") != first || again.Header.Get("Set-Cookie") != "" {
		t.Fatalf("sticky: first %q, again %q %q", first, again.Header.Get("Location"), again.Header.Get("Set-Cookie"))
	}

	// The resolve endpoint uses the same evaluation, and counts nothing.
	_, before := req(t, "GET", base+"/metrics", "", "")
	var res struct {
		Status   int
		Location string
		Reason   string
		Rule     *int
		Visitor  struct{ Device, Country, Lang string }
		Variants []struct{ Name string }
	}
	resp2, b := req(t, "GET", base+"/api/v1/links/app/resolve?ip=203.0.113.9&lang=fr&ua="+url.QueryEscape(ios), key, "")
	if resp2.StatusCode != 200 {
		t.Fatalf("resolve %d %s", resp2.StatusCode, b)
	}
	json.Unmarshal([]byte(b), &res)
	if res.Reason != "rule" || res.Rule == nil || *res.Rule != 0 || res.Visitor.Device != "ios" || res.Visitor.Country != "FR" || res.Visitor.Lang != "fr" {
		t.Fatalf("resolve: %s", b)
	}
	_, b = req(t, "GET", base+"/api/v1/links/app/resolve?country=AT&lang=de-AT&query=src%3Dtv", key, "")
	json.Unmarshal([]byte(b), &res)
	if res.Location != "https://example.de/?src=tv" || *res.Rule != 1 {
		t.Fatalf("resolve AT: %s", b)
	}
	_, b = req(t, "GET", base+"/api/v1/links/app/resolve?country=US", key, "")
	res.Variants = nil
	json.Unmarshal([]byte(b), &res)
	if res.Reason != "variant" || len(res.Variants) != 2 {
		t.Fatalf("resolve new visitor: %s", b)
	}
	_, after := req(t, "GET", base+"/metrics", "", "")
	re := regexp.MustCompile(`qredge_redirects_total\{result="redirect"\} (\d+)`)
	if re.FindStringSubmatch(before)[1] != re.FindStringSubmatch(after)[1] {
		t.Fatal("resolving counted scans")
	}
}
