package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
)

// listAll returns every link through the API as JSON objects by code,
// without the fields that name the server.
func listAll(t *testing.T, a *APIServer) map[string]string {
	t.Helper()
	out := map[string]string{}
	cursor := ""
	for {
		st, body := apiCall(t, a, "GET", "/api/v1/links?limit=1000&cursor="+cursor, "")
		if st != 200 {
			t.Fatalf("list: %d %s", st, body)
		}
		var page struct {
			Links      []map[string]any `json:"links"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Links {
			b, _ := json.Marshal(l)
			out[l["code"].(string)] = string(b)
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// TestRedisComesBackEmpty: links created through the API, an edge holding
// them, then Redis killed and started again empty under load. The edge
// keeps answering every known code (no 404), stays ready with the loss in
// /readyz, counts the refused reloads; the API refuses writes with a 503
// naming the loss. An export of the edge's table, restored into Redis,
// brings back the dataset as it was, and everything runs on.
func TestRedisComesBackEmpty(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	const n = 60
	// Live throughout the test, whatever the date.
	notAfter := testclock.Now().AddDate(10, 0, 0).UTC().Format(time.RFC3339)
	for i := range n {
		body := fmt.Sprintf(`{"code":"k%d","destination":"https://example.com/%d","tags":["t%d"],"status":301}`, i, i, i%3)
		if i%10 == 0 {
			body = fmt.Sprintf(`{"code":"k%d","destination":"https://example.com/%d","variants":[{"destination":"https://a.example/","weight":1},{"destination":"https://b.example/","weight":3}],
				"rules":[{"when":{"device":["ios"]},"destination":"https://apps.example/"}],"schedule":{"not_after":%q,"after_url":"https://example.com/over"}}`, i, i, notAfter)
		}
		if st, b := apiCall(t, a, "POST", "/api/v1/links", body); st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
	}
	e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) { c.Sync.ResyncInterval = 200 * time.Millisecond })
	waitReady(t, e)
	// One more through the API, so the edge follows the change stream.
	if st, b := apiCall(t, a, "POST", "/api/v1/links", `{"code":"k60","destination":"https://example.com/60"}`); st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	testwait.For(t, 10*time.Second, "the stream", func() bool { st, _ := scanEdge(t, e, "k60"); return st == 302 })
	before := listAll(t, a)
	if len(before) != n+1 {
		t.Fatalf("%d links before, want %d", len(before), n+1)
	}
	dataset := e.Syncer().Dataset()
	if dataset == "" {
		t.Fatal("the edge holds no dataset id")
	}

	// Steady scans of known codes while Redis goes away and comes back
	// empty; every one must redirect.
	var scans, bad atomic.Int64
	var badMu sync.Mutex
	var badSeen []string
	var load loops
	defer load.Stop()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for w := range 4 {
		load.Go(func(i int) {
			code := fmt.Sprintf("k%d", (w+4*i)%(n+1))
			st := 0
			if resp, err := client.Get("http://" + e.Addr() + "/" + code); err == nil {
				st = resp.StatusCode
				resp.Body.Close()
			}
			scans.Add(1)
			if st != 301 && st != 302 {
				bad.Add(1)
				badMu.Lock()
				badSeen = append(badSeen, fmt.Sprintf("%s: %d", code, st))
				badMu.Unlock()
			}
			time.Sleep(time.Millisecond)
		})
	}
	time.Sleep(100 * time.Millisecond)
	srv.Restart() // not persistent: it comes back empty
	testwait.For(t, 15*time.Second, "the edge to see the loss", func() bool { lost, _, _ := e.Syncer().DatasetLost(); return lost })
	time.Sleep(600 * time.Millisecond) // resyncs and reload retries run meanwhile

	if e.Table().Len() != n+1 {
		t.Fatalf("the edge holds %d links after the loss, want %d", e.Table().Len(), n+1)
	}
	resp, body := req(t, "GET", "http://"+e.AdminAddr()+"/readyz", "", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "degraded: the link dataset in redis looks lost") || !strings.Contains(body, dataset) {
		t.Fatalf("/readyz during the loss: %d %s", resp.StatusCode, body)
	}
	_, metrics := req(t, "GET", "http://"+e.AdminAddr()+"/metrics", "", "")
	if !strings.Contains(metrics, "qredge_dataset_lost 1") || strings.Contains(metrics, "qredge_reload_refused_total 0\n") {
		t.Fatalf("metrics during the loss lack qredge_dataset_lost 1 or a refused reload:\n%s", grepLines(metrics, "qredge_dataset_lost", "qredge_reload_refused"))
	}
	// The API remembers the dataset: writes are refused, naming the loss.
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/api/v1/links", `{"code":"new","destination":"https://example.com/new"}`},
		{"PATCH", "/api/v1/links/k1", `{"destination":"https://example.com/changed"}`},
		{"DELETE", "/api/v1/links/k2", ""},
		{"POST", "/api/v1/links/bulk", `[{"code":"b1","destination":"https://example.com/b1"}]`},
	} {
		st, body := apiCall(t, a, w.method, w.path, w.body)
		if st != 503 || !strings.Contains(body, `"code":"dataset_lost"`) || !strings.Contains(body, dataset) {
			t.Fatalf("%s %s on a lost dataset: %d %s", w.method, w.path, st, body)
		}
	}
	resp, body = req(t, "GET", "http://"+a.AdminAddr()+"/readyz", "", "")
	if !strings.Contains(body, "degraded") {
		t.Fatalf("api /readyz during the loss: %d %s", resp.StatusCode, body)
	}
	// A new edge started now does not take the empty Redis for an empty
	// dataset.
	late := mustStartEdge(t, srv.Addr(), nil)
	time.Sleep(300 * time.Millisecond)
	if late.Table().Ready() {
		t.Fatal("an edge started during the loss became ready with an empty table")
	}
	if ok, detail := late.readiness(); ok || !strings.Contains(detail, "looks lost") {
		t.Fatalf("the late edge's readiness: %v %s", ok, detail)
	}

	// Restore from the running edge's table.
	dir := t.TempDir()
	file := filepath.Join(dir, "edge.jsonl")
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if code := run(ctx, []string{"links", "export", "--from-edge", "http://" + e.AdminAddr(), "--output", file}, &out, &errOut); code != 0 {
		t.Fatalf("export --from-edge: %d %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "dataset "+dataset) || !strings.Contains(errOut.String(), fmt.Sprintf("exported %d links", n+1)) {
		t.Fatalf("export --from-edge said: %s", errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"links", "import", file, "--redis", srv.Addr(), "--restore"}, &out, &errOut); code != 0 {
		t.Fatalf("import --restore: %d %s %s", code, out.String(), errOut.String())
	}
	testwait.For(t, 15*time.Second, "the edge to reload the restored dataset", func() bool { lost, _, _ := e.Syncer().DatasetLost(); return !lost })
	waitReady(t, late)
	load.Stop()
	t.Logf("%d scans of known codes across Redis coming back empty and the restore, %d failed", scans.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Fatalf("%d scans of known codes failed: %v", bad.Load(), badSeen[:min(len(badSeen), 10)])
	}

	after := listAll(t, a)
	if len(after) != len(before) {
		t.Fatalf("%d links after the restore, want %d", len(after), len(before))
	}
	var diff []string
	for code, want := range before {
		if after[code] != want {
			diff = append(diff, fmt.Sprintf("%s:\n  before %s\n  after  %s", code, want, after[code]))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("the restored dataset differs:\n%s", strings.Join(diff[:min(len(diff), 3)], "\n"))
	}
	// Writes work again, with versions above every one the edge held.
	st, body := apiCall(t, a, "POST", "/api/v1/links", `{"code":"back","destination":"https://example.com/back"}`)
	var created struct{ Version uint64 }
	json.Unmarshal([]byte(body), &created)
	if st != 201 || created.Version <= uint64(n+1) {
		t.Fatalf("create after the restore: %d %s, want a version above the %d restored", st, body, n+1)
	}
	testwait.For(t, 10*time.Second, "the stream after the restore", func() bool { st, _ := scanEdge(t, e, "back"); return st == 302 })
	testwait.For(t, 10*time.Second, "the late edge to follow", func() bool { st, _ := scanEdge(t, late, "back"); return st == 302 })
}

// TestDatasetAdoptCommand: after a loss, 'qredge dataset adopt' makes the
// empty Redis the intended dataset: edges drop what they held, and the
// API writes again with versions above the ones the edge held.
func TestDatasetAdoptCommand(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	for i := range 5 {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"a%d","destination":"https://example.com/%d"}`, i, i))
	}
	e := mustStartEdge(t, srv.Addr(), nil)
	waitReady(t, e)
	held := e.Table().MaxVersion()
	srv.Restart()
	testwait.For(t, 15*time.Second, "the loss", func() bool { lost, _, _ := e.Syncer().DatasetLost(); return lost })
	testwait.For(t, 5*time.Second, "the report", func() bool {
		d, err := a.store.Dataset(context.Background())
		return err == nil && d.Lost[e.Syncer().Dataset()] == held
	})
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if code := run(ctx, []string{"dataset", "status", "--redis", srv.Addr()}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "lost:        "+e.Syncer().Dataset()) {
		t.Fatalf("dataset status: %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := run(ctx, []string{"dataset", "adopt", "--redis", srv.Addr()}, &out, &errOut); code == 0 {
		t.Fatal("adopt without --yes ran")
	}
	out.Reset()
	if code := run(ctx, []string{"dataset", "adopt", "--redis", srv.Addr(), "--yes"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "adopted dataset") {
		t.Fatalf("dataset adopt: %d %s %s", code, out.String(), errOut.String())
	}
	testwait.For(t, 15*time.Second, "the edge to take the adopted dataset", func() bool {
		lost, _, _ := e.Syncer().DatasetLost()
		return !lost && e.Table().Len() == 0
	})
	st, body := apiCall(t, a, "POST", "/api/v1/links", `{"code":"fresh","destination":"https://example.com/fresh"}`)
	var created struct{ Version uint64 }
	json.Unmarshal([]byte(body), &created)
	if st != 201 || created.Version <= held {
		t.Fatalf("create after adopt: %d %s, want a version above %d", st, body, held)
	}
	testwait.For(t, 10*time.Second, "the new link on the edge", func() bool { st, _ := scanEdge(t, e, "fresh"); return st == 302 })
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
