package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
)

const redisTestKey = "redis-test-admin-key-0123"

func mustStartEdge(tb testing.TB, redisAddr string, mod func(*EdgeConfig)) *Edge {
	tb.Helper()
	cfg := DefaultEdgeConfig()
	cfg.Redis.Addr = redisAddr
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Events.SpoolDir = tb.TempDir()
	if mod != nil {
		mod(&cfg)
	}
	e := &Edge{Config: cfg, Log: newLogger(&testlog.Buffer{}, "text", "debug")}
	if err := e.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if !e.stopping.Load() {
			e.Close()
		}
	})
	return e
}

func waitReady(tb testing.TB, e *Edge) {
	tb.Helper()
	testwait.For(tb, 20*time.Second, "edge ready", func() bool { return e.Table().Ready() })
}

// mustStartRedisAPI starts a Redis server and qredge api on it.
func mustStartRedisAPI(tb testing.TB, opt redistest.Options) (*redistest.Server, *APIServer) {
	tb.Helper()
	srv := redistest.MustStart(tb, opt)
	return srv, mustStartAPIServer(tb, srv.Addr())
}

// mustStartAPIServer starts qredge api on redisAddr with test settings,
// changed by mods; the configuration must pass Check.
func mustStartAPIServer(tb testing.TB, redisAddr string, mods ...func(*APIConfig)) *APIServer {
	tb.Helper()
	cfg := DefaultAPIConfig()
	cfg.Redis.Addr = redisAddr
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.API.AdminKey = redisTestKey
	cfg.API.PublicURL = "https://go.example"
	cfg.API.RateLimit = -1 // waitFor polls the API every 2 ms; api/ratelimit_test.go tests the limits
	for _, mod := range mods {
		mod(&cfg)
	}
	a := &APIServer{Config: cfg, Log: newLogger(&testlog.Buffer{}, "text", "debug")}
	mustOpen(tb, a.Config.Check, func() error { return a.Open(context.Background()) }, a.Close)
	return a
}

// mustOpen checks a server's configuration, opens the server and closes
// it when the test ends.
func mustOpen(tb testing.TB, check, open, close func() error) {
	tb.Helper()
	if err := check(); err != nil {
		tb.Fatal(err)
	}
	if err := open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { close() })
}

func apiCall(tb testing.TB, a *APIServer, method, path, body string) (int, string) {
	tb.Helper()
	resp, b := req(tb, method, "http://"+a.Addr()+path, redisTestKey, body)
	return resp.StatusCode, b
}

func scanEdge(t *testing.T, e *Edge, code string) (int, string) {
	t.Helper()
	resp, _ := req(t, "GET", "http://"+e.Addr()+"/"+code, "", "")
	return resp.StatusCode, resp.Header.Get("Location")
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// propagation creates n links through the API and measures how long each
// takes to redirect on every edge.
func propagation(t *testing.T, a *APIServer, edges []*Edge, n int) []time.Duration {
	t.Helper()
	var times []time.Duration
	for i := 0; i < n; i++ {
		code := fmt.Sprintf("p%d", i)
		start := time.Now()
		if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":%q,"destination":"https://example.com/%d"}`, code, i)); st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
		for _, e := range edges {
			testwait.For(t, 5*time.Second, "propagation of "+code, func() bool { return e.Table().Lookup(nil, []byte(code)) != nil })
		}
		times = append(times, time.Since(start))
	}
	return times
}

func testEdgesAndAPI(t *testing.T, redisAddr string) {
	a := mustStartAPIServer(t, redisAddr)
	e1 := mustStartEdge(t, redisAddr, nil)
	e2 := mustStartEdge(t, redisAddr, nil)
	waitReady(t, e1)
	waitReady(t, e2)
	times := propagation(t, a, []*Edge{e1, e2}, 100)
	t.Logf("propagation API create -> both edges, 100 links: p50 %s, p99 %s, max %s",
		percentile(times, 0.5), percentile(times, 0.99), percentile(times, 1))
	for _, e := range []*Edge{e1, e2} {
		if st, loc := scanEdge(t, e, "p42"); st != 302 || loc != "https://example.com/42" {
			t.Fatalf("edge scan: %d %q", st, loc)
		}
	}
	// Updates and deletes propagate too.
	if st, b := apiCall(t, a, "PATCH", "/api/v1/links/p42", `{"destination":"https://example.com/new"}`); st != 200 {
		t.Fatalf("patch %d %s", st, b)
	}
	if st, _ := apiCall(t, a, "DELETE", "/api/v1/links/p43", ""); st != 204 {
		t.Fatal("delete failed")
	}
	for _, e := range []*Edge{e1, e2} {
		testwait.For(t, 5*time.Second, "update and delete", func() bool {
			_, loc := scanEdge(t, e, "p42")
			st, _ := scanEdge(t, e, "p43")
			return loc == "https://example.com/new" && st == 404
		})
	}
	// Conflicts and If-Match over Redis.
	if st, _ := apiCall(t, a, "POST", "/api/v1/links", `{"code":"p1","destination":"https://example.com/"}`); st != 409 {
		t.Fatalf("duplicate create: %d", st)
	}
	resp, _ := req(t, "GET", "http://"+a.Addr()+"/api/v1/links/p1", redisTestKey, "")
	r, _ := http.NewRequest("PATCH", "http://"+a.Addr()+"/api/v1/links/p1", strings.NewReader(`{"disabled":true}`))
	r.Header.Set("Authorization", "Bearer "+redisTestKey)
	r.Header.Set("If-Match", `"1"`)
	if resp2, err := http.DefaultClient.Do(r); err != nil || resp2.StatusCode != 412 {
		t.Fatalf("stale If-Match (ETag %s): %v %v", resp.Header.Get("ETag"), err, resp2)
	}
	// Readiness and metrics on the admin listener.
	resp, body := req(t, "GET", "http://"+e1.AdminAddr()+"/readyz", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "redis ok") {
		t.Fatalf("edge readyz %d %q", resp.StatusCode, body)
	}
	_, body = req(t, "GET", "http://"+e1.AdminAddr()+"/metrics", "", "")
	for _, m := range []string{"qredge_redis_up 1", "qredge_links 99", "qredge_feed_changes_applied_total", "qredge_redirects_total"} {
		if !strings.Contains(body, m) {
			t.Fatalf("edge metrics lack %q", m)
		}
	}
	if resp, _ := req(t, "GET", "http://"+e1.AdminAddr()+"/debug/pprof/", "", ""); resp.StatusCode != 200 {
		t.Fatalf("pprof %d", resp.StatusCode)
	}
	// A new edge starts warm: everything loaded before it is ready.
	e3 := mustStartEdge(t, redisAddr, nil)
	waitReady(t, e3)
	if e3.Table().Len() != 99 {
		t.Fatalf("new edge loaded %d links, want 99", e3.Table().Len())
	}
}

func TestEdgesAndAPI(t *testing.T) {
	testEdgesAndAPI(t, redistest.MustStart(t, redistest.Options{}).Addr())
}

func TestEdgesAndAPICluster(t *testing.T) {
	c := redistest.MustStartCluster(t)
	testEdgesAndAPI(t, "redis-cluster://"+c.Addrs())
}

// TestEdgeCatchesUpAfterPartition cuts one edge off Redis, changes links
// while it is away, and checks it serves known codes throughout and
// catches up on every change when it is back.
func TestEdgeCatchesUpAfterPartition(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	proxy := redistest.MustStartProxy(t, srv.Addr())
	a := mustStartAPIServer(t, srv.Addr())
	for i := 0; i < 20; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"k%d","destination":"https://example.com/%d"}`, i, i))
	}
	e := mustStartEdge(t, proxy.Addr(), nil)
	waitReady(t, e)
	proxy.Block()
	testwait.For(t, 10*time.Second, "edge to notice", func() bool { up, _ := e.Syncer().Health(); return !up })
	_, body := req(t, "GET", "http://"+e.AdminAddr()+"/readyz", "", "")
	if !strings.Contains(body, "degraded: redis unreachable") {
		t.Fatalf("readyz while cut off: %q", body)
	}
	apiCall(t, a, "POST", "/api/v1/links", `{"code":"added","destination":"https://example.com/added"}`)
	apiCall(t, a, "PATCH", "/api/v1/links/k1", `{"destination":"https://example.com/changed"}`)
	apiCall(t, a, "DELETE", "/api/v1/links/k2", "")
	for i := 0; i < 200; i++ {
		if st, _ := scanEdge(t, e, fmt.Sprintf("k%d", 3+i%17)); st != 302 {
			t.Fatalf("known code answered %d while Redis is unreachable", st)
		}
	}
	proxy.Unblock()
	testwait.For(t, 15*time.Second, "catch-up", func() bool {
		_, a1 := scanEdge(t, e, "added")
		_, k1 := scanEdge(t, e, "k1")
		st, _ := scanEdge(t, e, "k2")
		return a1 == "https://example.com/added" && k1 == "https://example.com/changed" && st == 404
	})
	if e.Syncer().Stats().Reloads != 1 {
		t.Fatalf("caught up with %d reloads, want only the initial one (the stream had everything)", e.Syncer().Stats().Reloads)
	}
}

// TestEdgeStreamTrimmed: while the edge is cut off, the stream is trimmed
// past its position; back, it reloads in full and has every link.
func TestEdgeStreamTrimmed(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	proxy := redistest.MustStartProxy(t, srv.Addr())
	a := mustStartAPIServer(t, srv.Addr())
	apiCall(t, a, "POST", "/api/v1/links", `{"code":"first","destination":"https://example.com/first"}`)
	e := mustStartEdge(t, proxy.Addr(), nil)
	waitReady(t, e)
	proxy.Block()
	testwait.For(t, 10*time.Second, "edge to notice", func() bool { up, _ := e.Syncer().Health(); return !up })
	for i := 0; i < 50; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"t%d","destination":"https://example.com/%d"}`, i, i))
	}
	apiCall(t, a, "DELETE", "/api/v1/links/first", "")
	srv.Do("XTRIM", "qredge:{l}:changes", "MAXLEN", "3")
	proxy.Unblock()
	testwait.For(t, 15*time.Second, "full reload", func() bool { return e.Table().Len() == 50 })
	if st, _ := scanEdge(t, e, "first"); st != 404 {
		t.Fatal("a link deleted in the trimmed part is still served")
	}
	if e.Syncer().Stats().Reloads < 2 {
		t.Fatalf("reloads %d: the gap was not detected", e.Syncer().Stats().Reloads)
	}
}

// TestEdgeRedisKilled kills Redis under steady scans: no errors for known
// codes, API writes get 503, and after a restart nothing written before is
// lost and new changes arrive.
func TestEdgeRedisKilled(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{Persistent: true})
	for i := 0; i < 50; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"r%d","destination":"https://example.com/%d"}`, i, i))
	}
	e := mustStartEdge(t, srv.Addr(), nil)
	waitReady(t, e)
	var scans, bad atomic.Int64
	var load loops
	for range 4 {
		load.Go(func(i int) {
			resp, err := noRedirect.Get("http://" + e.Addr() + "/r" + strconv.Itoa(i%50))
			if err != nil || resp.StatusCode != 302 {
				bad.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
			scans.Add(1)
		})
	}
	time.Sleep(100 * time.Millisecond)
	srv.Kill()
	testwait.For(t, 10*time.Second, "edge to notice", func() bool { up, _ := e.Syncer().Health(); return !up })
	st, body := apiCall(t, a, "POST", "/api/v1/links", `{"code":"during","destination":"https://example.com/"}`)
	if st != 503 || !strings.Contains(body, "unavailable") {
		t.Fatalf("API write during the outage: %d %s", st, body)
	}
	_, metrics := req(t, "GET", "http://"+e.AdminAddr()+"/metrics", "", "")
	if !strings.Contains(metrics, "qredge_redis_up 0") {
		t.Fatal("qredge_redis_up is not 0 during the outage")
	}
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	if st, b := apiCall(t, a, "POST", "/api/v1/links", `{"code":"after","destination":"https://example.com/after"}`); st != 201 {
		t.Fatalf("API write after restart: %d %s", st, b)
	}
	testwait.For(t, 15*time.Second, "change after restart", func() bool { _, loc := scanEdge(t, e, "after"); return loc == "https://example.com/after" })
	load.Stop()
	t.Logf("%d scans of known codes across a Redis kill and restart, %d errors", scans.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Fatalf("%d scans of known codes failed", bad.Load())
	}
	if st, _ := apiCall(t, a, "GET", "/api/v1/links/r49", ""); st != 200 {
		t.Fatal("a link written before the outage is lost")
	}
}

// TestEdgeFallbackAndStorm: a link the change feed missed is found through
// the fallback; a storm of random unknown codes costs Redis almost nothing.
func TestEdgeFallbackAndStorm(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	testFallbackAndStorm(t, srv.Addr(), srv.TotalCommands)
}

func TestEdgeFallbackAndStormCluster(t *testing.T) {
	c := redistest.MustStartCluster(t)
	testFallbackAndStorm(t, "redis-cluster://"+c.Addrs(), c.TotalCommands)
}

func testFallbackAndStorm(t *testing.T, addr string, commands func() int64) {
	e := mustStartEdge(t, addr, func(c *EdgeConfig) { c.Sync.ResyncInterval = 0 })
	waitReady(t, e)
	// Written behind the feed's back: only the fallback can find it.
	rc := e.store.Client()
	ctx := context.Background()
	rc.HSet(ctx, "qredge:{l}:links", "ghost\x00", `{"code":"ghost","destination":"https://example.com/ghost","status":302}`)
	rc.HSet(ctx, "qredge:{l}:ver", "ghost\x00", "999")
	if st, loc := scanEdge(t, e, "ghost"); st != 302 || loc != "https://example.com/ghost" {
		t.Fatalf("fallback scan: %d %q", st, loc)
	}
	if e.Table().Len() != 1 {
		t.Fatal("the found link was not added to the table")
	}
	before := commands()
	// The ghost's lookup found its link: not part of the storm, and not
	// counted against the rate limit.
	lookups0 := e.handler.FallbackStats().Lookups.Load()
	const storm = 3000
	start := time.Now()
	for i := 0; i < storm; i++ {
		scanEdge(t, e, fmt.Sprintf("x%x", rand.Uint64()))
	}
	elapsed := time.Since(start)
	cmds := commands() - before
	lookups := e.handler.FallbackStats().Lookups.Load() - lookups0
	t.Logf("storm of %d random unknown codes in %s: %d fallback lookups, %d Redis commands in all (%.3f per request, incl. the feed's own reads)",
		storm, elapsed.Round(time.Millisecond), lookups, cmds, float64(cmds)/storm)
	// The bound: at most --fallback-rate lookups per second window the
	// storm touched, whatever the request rate.
	windows := uint64(elapsed/time.Second) + 2
	if limit := uint64(e.Config.Fallback.MaxPerSecond) * windows; lookups > limit {
		t.Fatalf("%d lookups in %s, over the rate limit (%d)", lookups, elapsed, limit)
	}
	if lookups >= storm {
		t.Fatal("every unknown code reached Redis")
	}
}

// TestEdgeResync: a link deleted behind the feed's back is dropped by the
// resync, and counted.
func TestEdgeResync(t *testing.T) {
	testResync(t, redistest.MustStart(t, redistest.Options{}).Addr())
}

func TestEdgeResyncCluster(t *testing.T) {
	testResync(t, "redis-cluster://"+redistest.MustStartCluster(t).Addrs())
}

func testResync(t *testing.T, addr string) {
	a := mustStartAPIServer(t, addr)
	apiCall(t, a, "POST", "/api/v1/links", `{"code":"keep","destination":"https://example.com/"}`)
	apiCall(t, a, "POST", "/api/v1/links", `{"code":"gone","destination":"https://example.com/"}`)
	e := mustStartEdge(t, addr, func(c *EdgeConfig) { c.Sync.ResyncInterval = 0 })
	waitReady(t, e)
	rc := e.store.Client()
	ctx := context.Background()
	rc.HDel(ctx, "qredge:{l}:links", "gone\x00")
	rc.HDel(ctx, "qredge:{l}:ver", "gone\x00")
	rc.HSet(ctx, "qredge:{l}:links", "extra\x00", `{"code":"extra","destination":"https://example.com/x","status":302}`)
	rc.HSet(ctx, "qredge:{l}:ver", "extra\x00", "500")
	n, err := e.Syncer().Resync(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("resync fixed %d (%v), want 2", n, err)
	}
	if st, _ := scanEdge(t, e, "gone"); st != 404 {
		t.Fatal("resync kept a link Redis no longer has")
	}
	if st, _ := scanEdge(t, e, "extra"); st != 302 {
		t.Fatal("resync missed a link")
	}
	_, body := req(t, "GET", "http://"+e.AdminAddr()+"/metrics", "", "")
	if !strings.Contains(body, "qredge_resync_differences_total 2") {
		t.Fatal("differences not counted")
	}
}

// TestEdgeStartsWhileRedisDown: not ready, scans get 503, until Redis is
// there.
func TestEdgeStartsWhileRedisDown(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{Persistent: true})
	apiCall(t, a, "POST", "/api/v1/links", `{"code":"w","destination":"https://example.com/w"}`)
	srv.Kill()
	e := mustStartEdge(t, srv.Addr(), nil)
	resp, body := req(t, "GET", "http://"+e.AdminAddr()+"/readyz", "", "")
	if resp.StatusCode != 503 || !strings.Contains(body, "loading") {
		t.Fatalf("readyz before load: %d %q", resp.StatusCode, body)
	}
	if st, _ := scanEdge(t, e, "w"); st != 503 {
		t.Fatalf("scan before load: %d", st)
	}
	srv.Restart()
	waitReady(t, e)
	if st, loc := scanEdge(t, e, "w"); st != 302 || loc != "https://example.com/w" {
		t.Fatalf("scan after load: %d %q", st, loc)
	}
}

// TestEdgeRedisKilledCluster kills the Cluster master that owns the link
// dataset under steady scans: known codes keep redirecting and API writes
// answer 503.
func TestEdgeRedisKilledCluster(t *testing.T) {
	c := redistest.MustStartCluster(t)
	addr := "redis-cluster://" + c.Addrs()
	a := mustStartAPIServer(t, addr)
	for i := 0; i < 20; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"c%d","destination":"https://example.com/%d"}`, i, i))
	}
	e := mustStartEdge(t, addr, nil)
	waitReady(t, e)
	c.Owner("qredge:{l}:links").Kill()
	bad := 0
	for i := 0; i < 500; i++ {
		if st, _ := scanEdge(t, e, fmt.Sprintf("c%d", i%20)); st != 302 {
			bad++
		}
	}
	if bad != 0 {
		t.Fatalf("%d of 500 scans of known codes failed with the dataset's master down", bad)
	}
	testwait.For(t, 15*time.Second, "API writes to fail", func() bool {
		st, _ := apiCall(t, a, "POST", "/api/v1/links", `{"destination":"https://example.com/"}`)
		return st == 503
	})
	testwait.For(t, 15*time.Second, "edge to report degraded", func() bool {
		_, body := req(t, "GET", "http://"+e.AdminAddr()+"/readyz", "", "")
		return strings.Contains(body, "degraded")
	})
}
