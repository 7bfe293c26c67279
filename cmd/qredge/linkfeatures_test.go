package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testwait"
)

// scanAs sends method path with the user agent ua (when not empty),
// extra headers and body, and returns the response without following it.
func scanAs(t *testing.T, base, method, path, ua string, headers map[string]string, body string) *http.Response {
	t.Helper()
	r, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ua != "" {
		r.Header.Set("User-Agent", ua)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestServePasswordAndTitle: a password-protected link with a title,
// through the API and the short URL of qredge serve.
func TestServePasswordAndTitle(t *testing.T) {
	const key = "features-test-admin-key-123"
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"vip","destination":"https://example.com/vip","password":"open sesame",
		"title":"VIP launch party","notes":"Printed on the invitations.\nDo not share."}`)
	if resp.StatusCode != 201 || !strings.Contains(b, `"password_protected":true`) || strings.Contains(b, "password_hash") || strings.Contains(b, "open sesame") {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	// Search reaches titles.
	if _, b := req(t, "GET", base+"/api/v1/links?q="+url.QueryEscape("launch PARTY"), key, ""); !strings.Contains(b, `"code":"vip"`) {
		t.Fatalf("search by title: %s", b)
	}
	if resp := scanAs(t, base, "GET", "/vip?q", desktopUA, nil, ""); resp.StatusCode != 200 || resp.Header.Get("Location") != "" {
		t.Fatalf("no cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if resp := scanAs(t, base, "POST", "/vip?q", desktopUA, form, "password=nope"); resp.StatusCode != 403 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp = scanAs(t, base, "POST", "/vip?q", desktopUA, form, "password=open+sesame")
	cookie := strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0]
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/vip?q" || !strings.HasPrefix(cookie, "qp_vip=") {
		t.Fatalf("right password: %d %q %q", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	if resp := scanAs(t, base, "GET", "/vip?q", desktopUA, map[string]string{"Cookie": cookie}, ""); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.com/vip" {
		t.Fatalf("with the cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A PATCH that leaves the password alone keeps it; null removes it.
	if resp, b := req(t, "PATCH", base+"/api/v1/links/vip", key, `{"title":"VIP"}`); resp.StatusCode != 200 || !strings.Contains(b, `"password_protected":true`) {
		t.Fatalf("patch title: %d %s", resp.StatusCode, b)
	}
	if resp, b := req(t, "PATCH", base+"/api/v1/links/vip", key, `{"password":null}`); resp.StatusCode != 200 || !strings.Contains(b, `"password_protected":false`) {
		t.Fatalf("patch password null: %d %s", resp.StatusCode, b)
	}
	// The audit log shows the password set and removed, never its hash.
	if _, b := req(t, "GET", base+"/api/v1/audit?code=vip", key, ""); !strings.Contains(b, `"password_hash":"redacted:`) || strings.Contains(b, "argon2id") {
		t.Fatalf("audit: %s", b)
	}
	testwait.For(t, 5*time.Second, "the open link", func() bool {
		return scanAs(t, base, "GET", "/vip", desktopUA, nil, "").StatusCode == 302
	})
	// Writes refuse what only the server sets, and bad passwords.
	for body, field := range map[string]string{
		`{"code":"x1","destination":"https://example.com/","password_protected":true}`:  "password_protected",
		`{"code":"x2","destination":"https://example.com/","password":"abc"}`:           "password",
		`{"code":"x3","destination":"https://example.com/","password_hash":"$2a$10$x"}`: "password_hash",
	} {
		if resp, b := req(t, "POST", base+"/api/v1/links", key, body); resp.StatusCode/100 != 4 || !strings.Contains(b, `"field":"`+field+`"`) {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
}

// TestServeScanLimitExact: qredge serve admits exactly max_scans scans
// of a link, under concurrent scans and across a restart, and bots do
// not count.
func TestServeScanLimitExact(t *testing.T) {
	const key = "features-test-admin-key-123"
	dir := t.TempDir()
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"drop","destination":"https://example.com/coupon","max_scans":20,
		"gone_url":"https://example.com/sold-out","rules":[{"name":"ios","when":{"device":["ios"]},"destination":"https://example.com/ios"}]}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	scanMany := func(n int, ua string) map[string]int {
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				loc := scanAs(t, base, "GET", "/drop", ua, nil, "").Header.Get("Location")
				mu.Lock()
				got[loc]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	if got := scanMany(10, "Googlebot/2.1 (+http://www.google.com/bot.html)"); got["https://example.com/coupon"] != 10 {
		t.Fatalf("bots: %v", got)
	}
	got := scanMany(60, desktopUA)
	if got["https://example.com/coupon"] != 20 || got["https://example.com/sold-out"] != 40 {
		t.Fatalf("60 scans of a link limited to 20: %v", got)
	}
	testwait.For(t, 10*time.Second, "scan_limit_reached_at in the API", func() bool {
		_, b := req(t, "GET", base+"/api/v1/links/drop", key, "")
		return strings.Contains(b, `"scan_limit_reached_at"`)
	})
	// A change that leaves the limit as it is keeps the mark (the console
	// sends max_scans with every save).
	if resp, b := req(t, "PATCH", base+"/api/v1/links/drop", key, `{"title":"Drop","max_scans":20}`); resp.StatusCode != 200 || !strings.Contains(b, "scan_limit_reached_at") {
		t.Fatalf("a title change cleared the mark: %d %s", resp.StatusCode, b)
	}
	// Raising the limit opens the link for exactly the difference, also
	// after a restart.
	if resp, b := req(t, "PATCH", base+"/api/v1/links/drop", key, `{"max_scans":25}`); resp.StatusCode != 200 || strings.Contains(b, "scan_limit_reached_at") {
		t.Fatalf("raise: %d %s", resp.StatusCode, b)
	}
	s.Close()
	s, _ = mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base = "http://" + s.Addr()
	got = scanMany(10, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)")
	if got["https://example.com/ios"] != 5 || got["https://example.com/sold-out"] != 5 {
		t.Fatalf("10 scans after raising the limit to 25 and a restart: %v", got)
	}
	// The stats name the rule and the scans past the limit.
	testwait.For(t, 10*time.Second, "the stats", func() bool {
		_, b := req(t, "GET", base+"/api/v1/links/drop/stats", key, "")
		var st struct{ Breakdowns map[string]map[string]int64 }
		json.Unmarshal([]byte(b), &st)
		tg := st.Breakdowns["target"]
		return tg["rule:ios"] == 5 && tg["scan_limit"] == 45 && tg["destination"] == 30
	})
}

// TestDistributedScanLimit: edges count nothing; the analytics consumer
// counts a limited link's scans exactly and marks it in Redis, and every
// edge answers it as past its limit from the change feed. The scans in
// between pass: the overshoot, logged here, is bounded by the pipeline's
// latency. A protected link works through an edge too.
func TestDistributedScanLimit(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	k := kafkatest.MustStart(t, kafkatest.Options{})
	brokers := k.ListenAddrs()
	var edges []*Edge
	for i := 0; i < 2; i++ {
		e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) { c.Kafka.Kafka.Brokers = brokers })
		waitReady(t, e)
		edges = append(edges, e)
	}
	mustStartAnalytics(t, srv.Addr(), brokers)
	const max = 100
	if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"drop","destination":"https://example.com/coupon","max_scans":%d,
		"gone_url":"https://example.com/sold-out"}`, max)); st != 201 {
		t.Fatal(st, b)
	}
	if st, b := apiCall(t, a, "POST", "/api/v1/links", `{"code":"vip","destination":"https://example.com/vip","password":"open sesame"}`); st != 201 {
		t.Fatal(st, b)
	}
	for _, e := range edges {
		testwait.For(t, 10*time.Second, "the links on the edge", func() bool {
			st, _ := scanEdge(t, e, "drop")
			return st == 302 && e.Table().Lookup([]byte("localhost"), []byte("vip")) != nil
		})
	}
	// The probe scans above count too: they went to the destination.
	var admitted, gone, sent atomic.Int64
	admitted.Add(int64(len(edges)))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	start := time.Now()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; sent.Add(1) <= 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := edges[i%len(edges)]
				switch loc := scanAs(t, "http://"+e.Addr(), "GET", "/drop", desktopUA, nil, "").Header.Get("Location"); loc {
				case "https://example.com/coupon":
					admitted.Add(1)
				case "https://example.com/sold-out":
					gone.Add(1)
				default:
					t.Errorf("scan answered %q", loc)
					return
				}
			}
		}()
	}
	testwait.For(t, 60*time.Second, "every edge to answer past the limit", func() bool {
		_, b := apiCall(t, a, "GET", "/api/v1/links/drop", "")
		if !strings.Contains(b, "scan_limit_reached_at") {
			return false
		}
		for _, e := range edges {
			if _, loc := scanEdge(t, e, "drop"); loc != "https://example.com/sold-out" {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if admitted.Load() < max {
		t.Fatalf("only %d scans admitted before the link was marked, limit %d", admitted.Load(), max)
	}
	all := admitted.Load() + gone.Load()
	t.Logf("scan limit %d: %d admitted (overshoot %d), %d past the limit; %d scans in %s (%.0f a second), 8 clients on 2 edges",
		max, admitted.Load(), admitted.Load()-max, gone.Load(), all, elapsed.Round(time.Millisecond), float64(all)/elapsed.Seconds())

	// The password form through an edge.
	base := "http://" + edges[0].Addr()
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	if resp := scanAs(t, base, "GET", "/vip", desktopUA, nil, ""); resp.StatusCode != 200 {
		t.Fatalf("edge, no cookie: %d", resp.StatusCode)
	}
	resp := scanAs(t, base, "POST", "/vip", desktopUA, form, "password=open+sesame")
	cookie := strings.SplitN(resp.Header.Get("Set-Cookie"), ";", 2)[0]
	if resp.StatusCode != 303 || !strings.HasPrefix(cookie, "qp_vip=") {
		t.Fatalf("edge, right password: %d %q", resp.StatusCode, cookie)
	}
	// The cookie opens the link on the other edge too: no shared secret.
	if resp := scanAs(t, "http://"+edges[1].Addr(), "GET", "/vip", desktopUA, map[string]string{"Cookie": cookie}, ""); resp.StatusCode != 302 ||
		resp.Header.Get("Location") != "https://example.com/vip" {
		t.Fatalf("other edge with the cookie: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
