package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

func createLinks(t *testing.T, a *APIServer, prefix string, n int) {
	t.Helper()
	for i := range n {
		body := fmt.Sprintf(`{"code":"%s%d","destination":"https://example.com/%s/%d","tags":["snap"]}`, prefix, i, prefix, i)
		if st, b := apiCall(t, a, "POST", "/api/v1/links", body); st != 201 {
			t.Fatalf("create %s%d: %d %s", prefix, i, st, b)
		}
	}
}

func readyz(t *testing.T, e *Edge) (int, string) {
	t.Helper()
	resp, body := req(t, "GET", "http://"+e.AdminAddr()+"/readyz", "", "")
	return resp.StatusCode, body
}

// sameAsRedis fails unless the edge's table holds exactly the links in
// Redis, at the same versions.
func sameAsRedis(t *testing.T, e *Edge) {
	t.Helper()
	want := map[string]uint64{}
	err := e.store.ForEachLink(context.Background(), func(l *store.Link) error {
		want[store.LinkKey(l.Domain, l.Code)] = l.Version
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	e.Table().Each(func(domain, code string, v uint64) { got[store.LinkKey(domain, code)] = v })
	sameLinks(t, "the edge's versions against redis'", got, want)
}

// sameLinks fails unless got and want hold the same links (keys) with the
// same values; what names the comparison.
func sameLinks[V cmp.Ordered](t *testing.T, what string, got, want map[string]V) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d links, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: link %q:\n%v\nwant\n%v", what, k, got[k], v)
		}
	}
}

// TestEdgeRestartFromLocalSnapshot: a restarted edge loads its own
// snapshot and catches up with what changed while it was down; with Redis
// down it starts from the snapshot, degraded.
func TestEdgeRestartFromLocalSnapshot(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{Persistent: true})
	createLinks(t, a, "s", 50)
	dir := t.TempDir()
	withDir := func(c *EdgeConfig) { c.Sync.SnapshotDir, c.Sync.SharedSnapshots = dir, false }
	e := mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	e.Close() // writes the local snapshot
	if _, err := os.Stat(filepath.Join(dir, "links.snap")); err != nil {
		t.Fatalf("no local snapshot after shutdown: %v", err)
	}
	// Changes while the edge is down.
	createLinks(t, a, "late", 5)
	if st, _ := apiCall(t, a, "DELETE", "/api/v1/links/s7", ""); st != 204 {
		t.Fatal("delete failed")
	}
	e = mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	st := e.Syncer().Stats()
	if st.SnapshotLoads["local"] != 1 || st.Reloads != 0 {
		t.Fatalf("restart: %d local snapshot loads, %d loads from redis; want 1 and 0", st.SnapshotLoads["local"], st.Reloads)
	}
	sameAsRedis(t, e)
	if code, _ := scanEdge(t, e, "s7"); code != 404 {
		t.Fatalf("link deleted while the edge was down answers %d", code)
	}
	if code, _ := scanEdge(t, e, "late4"); code != 302 {
		t.Fatalf("link created while the edge was down answers %d", code)
	}
	e.Close()

	// Redis down at start: ready from the snapshot, degraded.
	srv.Kill()
	e = mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	if code, body := readyz(t, e); code != 200 || !strings.Contains(body, "54 links from the local snapshot; degraded: redis unreachable") {
		t.Fatalf("readyz with redis down: %d %q", code, body)
	}
	if code, loc := scanEdge(t, e, "late4"); code != 302 || loc != "https://example.com/late/4" {
		t.Fatalf("scan with redis down: %d %q", code, loc)
	}
	srv.Restart()
	a2 := mustStartAPIServer(t, srv.Addr())
	createLinks(t, a2, "after", 1)
	testwait.For(t, 20*time.Second, "the change made after redis came back", func() bool { return e.Table().Lookup(nil, []byte("after0")) != nil })
	if code, body := readyz(t, e); code != 200 || !strings.Contains(body, "redis ok") {
		t.Fatalf("readyz after redis is back: %d %q", code, body)
	}
	sameAsRedis(t, e)
}

// TestEdgeSnapshotRefused: a damaged snapshot, one whose position the
// stream no longer holds, and one of another dataset are refused and
// counted; the edge loads from Redis instead.
func TestEdgeSnapshotRefused(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	createLinks(t, a, "r", 20)
	dir := t.TempDir()
	withDir := func(c *EdgeConfig) { c.Sync.SnapshotDir, c.Sync.SharedSnapshots = dir, false }
	e := mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	e.Close()
	path := filepath.Join(dir, "links.snap")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	restart := func(what string) {
		t.Helper()
		e := mustStartEdge(t, srv.Addr(), withDir)
		waitReady(t, e)
		st := e.Syncer().Stats()
		if st.SnapshotsRefused != 1 || st.SnapshotLoads["local"] != 0 || st.Reloads != 1 {
			t.Fatalf("%s: refused %d, local loads %d, redis loads %d; want 1, 0, 1", what, st.SnapshotsRefused, st.SnapshotLoads["local"], st.Reloads)
		}
		sameAsRedis(t, e)
		_, body := req(t, "GET", "http://"+e.AdminAddr()+"/metrics", "", "")
		if !strings.Contains(body, "qredge_snapshots_refused_total 1") {
			t.Fatalf("%s: refusal not in the metrics", what)
		}
		e.Close()
	}
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-20] ^= 0xff
	os.WriteFile(path, damaged, 0o644)
	restart("damaged")

	// Stale: the stream was trimmed past the snapshot's position.
	os.WriteFile(path, good, 0o644)
	createLinks(t, a, "more", 3)
	srv.Do("XTRIM", "qredge:{l}:changes", "MAXLEN", "0")
	restart("stale")

	// Another dataset: Redis was emptied and refilled.
	e = mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	e.Close() // a current snapshot
	srv.Do("FLUSHALL")
	a2 := mustStartAPIServer(t, srv.Addr())
	createLinks(t, a2, "new", 2)
	e = mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	if st := e.Syncer().Stats(); st.SnapshotsRefused != 1 || st.SnapshotLoads["local"] != 0 {
		t.Fatalf("another dataset: refused %d, local loads %d", st.SnapshotsRefused, st.SnapshotLoads["local"])
	}
	sameAsRedis(t, e)
}

// TestEdgeSharedSnapshotUnderWrites: snapshots published while links are
// created, updated and deleted, plus the change stream from their
// position, give a new edge exactly the dataset.
func TestEdgeSharedSnapshotUnderWrites(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	createLinks(t, a, "w", 100)
	leader := mustStartEdge(t, srv.Addr(), nil)
	waitReady(t, leader)
	var (
		load    loops
		writes  atomic.Int64
		publish atomic.Int64
	)
	load.Go(func(i int) {
		code := fmt.Sprintf("w%d", i%100)
		switch i % 3 {
		case 0:
			apiCall(t, a, "PATCH", "/api/v1/links/"+code, fmt.Sprintf(`{"destination":"https://example.com/v%d"}`, i))
		case 1:
			apiCall(t, a, "DELETE", "/api/v1/links/"+code, "")
		default:
			apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":%q,"destination":"https://example.com/n%d"}`, code, i))
		}
		writes.Add(1)
	})
	load.Go(func(int) {
		if err := leader.Syncer().WriteSnapshots(context.Background()); err != nil {
			t.Errorf("publish: %v", err)
		} else {
			publish.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
	})
	// Edges start from the snapshots while the writes go on.
	var starts []*Edge
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		e := mustStartEdge(t, srv.Addr(), nil)
		waitReady(t, e)
		starts = append(starts, e)
	}
	load.Stop()
	if leader.Syncer().Stats().SnapshotsShared == 0 {
		t.Fatal("the leader published no snapshot")
	}
	createLinks(t, a, "sentinel", 1)
	for i, e := range starts {
		testwait.For(t, 10*time.Second, "the sentinel", func() bool { return e.Table().Lookup(nil, []byte("sentinel0")) != nil })
		if st := e.Syncer().Stats(); st.SnapshotLoads["shared"] != 1 || st.Reloads != 0 {
			t.Fatalf("edge %d: %d shared snapshot loads, %d redis loads; want 1 and 0", i, st.SnapshotLoads["shared"], st.Reloads)
		}
		sameAsRedis(t, e)
	}
	t.Logf("%d writes, %d snapshot rounds (%d published)", writes.Load(), publish.Load(), leader.Syncer().Stats().SnapshotsShared)
}

// TestRestoreFromLocalSnapshot: Redis comes back empty while the edges
// are down; an edge starts from its local snapshot (holding the links,
// the dataset reported lost), and the same file restores Redis.
func TestRestoreFromLocalSnapshot(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	createLinks(t, a, "x", 40)
	before := listAll(t, a)
	dir := t.TempDir()
	withDir := func(c *EdgeConfig) { c.Sync.SnapshotDir = dir }
	e := mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	dataset := e.Syncer().Dataset()
	e.Close()
	srv.Do("FLUSHALL")

	e = mustStartEdge(t, srv.Addr(), withDir)
	waitReady(t, e)
	if lost, _, _ := e.Syncer().DatasetLost(); !lost {
		t.Fatal("an edge started from its snapshot over an empty Redis does not report the dataset lost")
	}
	if code, loc := scanEdge(t, e, "x3"); code != 302 || loc != "https://example.com/x/3" {
		t.Fatalf("scan with the dataset lost: %d %q", code, loc)
	}
	ctx := context.Background()
	var out, errOut strings.Builder
	if code := run(ctx, []string{"links", "import", "--snapshot", filepath.Join(dir, "links.snap"), "--redis", srv.Addr(), "x.jsonl"}, &out, &errOut); code == 0 {
		t.Fatal("--snapshot with an import FILE as well was accepted")
	}
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"links", "import", "--snapshot", filepath.Join(dir, "links.snap"), "--redis", srv.Addr()}, &out, &errOut); code != 0 {
		t.Fatalf("import --snapshot: %d %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "restored 40 links into dataset "+dataset) {
		t.Fatalf("import --snapshot said %q", out.String())
	}
	testwait.For(t, 15*time.Second, "the edge to see the restored dataset", func() bool { lost, _, _ := e.Syncer().DatasetLost(); return !lost })
	a2 := mustStartAPIServer(t, srv.Addr())
	sameLinks(t, "after the restore", listAll(t, a2), before)
}

// TestEdgeReadyzShowsLoadProgress: while an edge loads, /readyz says from
// where and how far.
func TestEdgeReadyzShowsLoadProgress(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	const n = 60000
	links := make([]*store.Link, n)
	for i := range links {
		links[i] = &store.Link{Code: fmt.Sprint("p", i), Destination: fmt.Sprint("https://example.com/", i), Status: 302}
	}
	if err := a.store.Seed(context.Background(), links); err != nil {
		t.Fatal(err)
	}
	e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) { c.Sync.SharedSnapshots = false })
	var progress []string
	for !e.Table().Ready() {
		if code, body := readyz(t, e); code == 503 && strings.Contains(body, " of ") {
			progress = append(progress, strings.TrimSpace(body))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(progress) == 0 {
		t.Fatal("/readyz never said how far the load was")
	}
	last := progress[len(progress)-1]
	if !strings.HasPrefix(last, "loading links from redis: ") || !strings.Contains(last, fmt.Sprintf(" of %d (", n)) {
		t.Fatalf("/readyz while loading: %q", last)
	}
	t.Logf("%d progress answers, first %q, last %q", len(progress), progress[0], last)
}
