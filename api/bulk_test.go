package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/redisstore"
)

type bulkBody struct {
	Problem
	Atomic  bool `json:"atomic"`
	Created int  `json:"created"`
	Failed  int  `json:"failed"`
	Results []struct {
		Index  int                `json:"index"`
		Line   int                `json:"line"`
		Status int                `json:"status"`
		Link   *apiLink           `json:"link"`
		Code   string             `json:"code"`
		Detail string             `json:"detail"`
		Errors []store.FieldError `json:"errors"`
	} `json:"results"`
}

func (e *env) exists(code string) bool {
	e.t.Helper()
	_, err := e.db.GetLink(context.Background(), "", code)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		e.t.Fatal(err)
	}
	return err == nil
}

func TestBulkAtomic(t *testing.T) {
	e := mustStartAPI(t)
	var b bulkBody
	e.call("POST", "/api/v1/links/bulk", e.write, `[
		{"code":"store-1","destination":"https://shop.example/1","tags":["spring"]},
		{"code":"store-2","destination":"https://shop.example/2","status":301},
		{"destination":"https://shop.example/3"}]`, nil, 201, &b)
	if !b.Atomic || b.Created != 3 || b.Failed != 0 || len(b.Results) != 3 {
		t.Fatalf("response %+v", b)
	}
	for i, r := range b.Results {
		if r.Index != i || r.Status != 201 || r.Link == nil || r.Link.Version == 0 || r.Link.ShortURL != "https://go.example/"+r.Link.Code {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if b.Results[1].Link.Status != 301 || b.Results[2].Link.Code == "" || !e.exists(b.Results[2].Link.Code) {
		t.Fatalf("results %+v", b.Results)
	}

	// Invalid links: 422, nothing created, every item at fault named in
	// one answer: the invalid ones, the repeats within the request and
	// those whose code exists already.
	r := e.call("POST", "/api/v1/links/bulk?atomic=true", e.write, `[
		{"code":"new-1","destination":"https://shop.example/n1"},
		{"code":"new-2","destination":"ftp://shop.example/n2"},
		{"code":"new-1","destination":"https://shop.example/n1b"},
		{"code":"store-1","destination":"https://shop.example/again"},
		{"destination":"https://shop.example/generated"}]`, nil, 422, &b)
	if p := r.problem(t); p.Code != store.EINVALID || b.Created != 0 || b.Failed != 3 || len(b.Results) != 3 {
		t.Fatalf("problem %+v, body %s", p, r.body)
	}
	if b.Results[0].Index != 1 || b.Results[0].Status != 422 || len(b.Results[0].Errors) != 1 || b.Results[0].Errors[0].Field != "destination" {
		t.Fatalf("invalid item: %+v", b.Results[0])
	}
	if b.Results[1].Index != 2 || b.Results[1].Status != 409 || b.Results[1].Code != store.ECONFLICT {
		t.Fatalf("repeated item: %+v", b.Results[1])
	}
	if r := b.Results[2]; r.Index != 3 || r.Status != 409 || r.Code != store.ECONFLICT || !strings.Contains(r.Detail, `"store-1" already exists`) || len(r.Errors) != 1 || r.Errors[0].Field != "code" {
		t.Fatalf("existing item: %+v", r)
	}
	if e.exists("new-1") {
		t.Fatal("a failed atomic request created new-1")
	}
	// The same in CSV, each item named by its line.
	r = e.call("POST", "/api/v1/links/bulk", e.write, "code,destination\nnew-4,https://shop.example/4\nstore-2,https://shop.example/2\nnew-5,javascript:x\n",
		map[string]string{"Content-Type": "text/csv"}, 422, &b)
	if p := r.problem(t); p.Code != store.EINVALID || b.Failed != 2 || len(b.Results) != 2 || b.Results[0].Line != 3 || b.Results[0].Status != 409 || b.Results[1].Line != 4 || b.Results[1].Status != 422 {
		t.Fatalf("CSV: problem %+v, body %s", p, r.body)
	}
	if e.exists("new-4") {
		t.Fatal("a failed atomic request created new-4")
	}

	// Only conflicts: 409. A code twice in one request is one; a stored
	// link is one.
	r = e.call("POST", "/api/v1/links/bulk", e.write, `[
		{"code":"new-3","destination":"https://shop.example/n3"},
		{"code":"new-3","destination":"https://shop.example/n3b"}]`, nil, 409, &b)
	if p := r.problem(t); p.Code != store.ECONFLICT || b.Failed != 1 || b.Results[0].Index != 1 || b.Results[0].Errors[0].Field != "code" {
		t.Fatalf("problem %+v, body %s", p, r.body)
	}
	r = e.call("POST", "/api/v1/links/bulk", e.write, `[
		{"code":"new-3","destination":"https://shop.example/n3"},
		{"code":"store-2","destination":"https://shop.example/2"},
		{"code":"store-1","destination":"https://shop.example/1"}]`, nil, 409, &b)
	if p := r.problem(t); p.Code != store.ECONFLICT || b.Failed != 2 || b.Results[0].Index != 1 || b.Results[1].Index != 2 || b.Results[1].Status != 409 {
		t.Fatalf("problem %+v, body %s", p, r.body)
	}
	if e.exists("new-3") {
		t.Fatal("a failed atomic request created new-3")
	}
}

func TestBulkPerItem(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"taken","destination":"https://shop.example/t"}`, nil, 201, nil)
	var b bulkBody
	e.call("POST", "/api/v1/links/bulk?atomic=false", e.write, `[
		{"code":"ok-1","destination":"https://shop.example/1"},
		{"code":"taken","destination":"https://shop.example/x"},
		{"code":"bad code","destination":"https://shop.example/2"},
		{"code":"ok-2","destination":"https://shop.example/2","version":3},
		{"code":"ok-3","destination":"https://shop.example/3","colour":"red"},
		"not an object",
		{"code":"ok-4","destination":"https://shop.example/4","status":"302"},
		{"code":"ok-1","destination":"https://shop.example/1b"},
		{"code":"ok-5","destination":"https://shop.example/5"}]`, nil, 200, &b)
	if b.Atomic || b.Created != 2 || b.Failed != 7 || len(b.Results) != 9 {
		t.Fatalf("response %+v", b)
	}
	want := []struct {
		status int
		field  string
	}{{201, ""}, {409, ""}, {422, "code"}, {400, "version"}, {400, "colour"}, {400, ""}, {400, "status"}, {409, "code"}, {201, ""}}
	for i, w := range want {
		r := b.Results[i]
		if r.Index != i || r.Status != w.status {
			t.Fatalf("result %d = %+v, want status %d", i, r, w.status)
		}
		if w.status != 201 && (r.Detail == "" || r.Code == "" || r.Link != nil) {
			t.Fatalf("result %d = %+v: a failure needs code and detail", i, r)
		}
		if w.field != "" && (len(r.Errors) == 0 || r.Errors[0].Field != w.field) {
			t.Fatalf("result %d = %+v, want field %q", i, r, w.field)
		}
	}
	for code, want := range map[string]bool{"ok-1": true, "ok-5": true, "ok-2": false, "ok-3": false, "ok-4": false} {
		if e.exists(code) != want {
			t.Fatalf("%s exists = %v, want %v", code, !want, want)
		}
	}
	l, err := e.db.GetLink(context.Background(), "", "ok-1")
	if err != nil || l.Destination != "https://shop.example/1" {
		t.Fatalf("the repeat overwrote the first ok-1: %+v %v", l, err)
	}
}

func TestBulkCSV(t *testing.T) {
	e := mustStartAPI(t)
	csv := "\ufeffcode,destination,tags,rules,forward_query\r\n" +
		"c-1,\"https://shop.example/a?x=1,2\",\"spring print\",,true\r\n" +
		"c-2,https://shop.example/b,,\"[{\"\"when\"\":{\"\"device\"\":[\"\"ios\"\"]},\"\"destination\"\":\"\"https://apps.example/ios\"\"}]\",no\r\n" +
		"c-3,\"https://shop.example/c\nbroken\",,,false\r\n" +
		"c-4,https://shop.example/d,,,maybe\r\n" +
		"c-5,https://shop.example/e,,,\r\n"
	var b bulkBody
	e.call("POST", "/api/v1/links/bulk?atomic=false", e.write, csv, map[string]string{"Content-Type": "text/csv; charset=utf-8"}, 200, &b)
	if b.Created != 3 || b.Failed != 2 {
		t.Fatalf("response %+v", b)
	}
	lines := []int{2, 3, 4, 6, 7} // c-3's quoted cell spans two lines
	for i, r := range b.Results {
		if r.Index != i || r.Line != lines[i] {
			t.Fatalf("result %d: index %d line %d, want line %d", i, r.Index, r.Line, lines[i])
		}
	}
	if r := b.Results[2]; r.Status != 422 || r.Errors[0].Field != "destination" {
		t.Fatalf("c-3: %+v", r)
	}
	if r := b.Results[3]; r.Status != 422 || r.Errors[0].Field != "forward_query" {
		t.Fatalf("c-4: %+v", r)
	}
	l1, _ := e.db.GetLink(context.Background(), "", "c-1")
	l2, _ := e.db.GetLink(context.Background(), "", "c-2")
	if l1 == nil || l1.Destination != "https://shop.example/a?x=1,2" || !l1.ForwardQuery || strings.Join(l1.Tags, ",") != "print,spring" {
		t.Fatalf("c-1 = %+v", l1)
	}
	if l2 == nil || len(l2.Rules) != 1 || l2.Rules[0].When.Device[0] != "ios" || l2.ForwardQuery {
		t.Fatalf("c-2 = %+v", l2)
	}

	// A stray quote makes the whole body unreadable: 400 naming the line.
	r := e.call("POST", "/api/v1/links/bulk", e.write, "code,destination\nx,https://a.example/\ny,\"https://b.example/\"z\n", map[string]string{"Content-Type": "text/csv"}, 400, nil)
	if p := r.problem(t); !strings.Contains(p.Detail, "line 3") {
		t.Fatalf("syntax error problem %+v", p)
	}
	r = e.call("POST", "/api/v1/links/bulk", e.write, "code,url\nx,https://a.example/\n", map[string]string{"Content-Type": "text/csv"}, 400, nil)
	if p := r.problem(t); !strings.Contains(p.Detail, `"url"`) {
		t.Fatalf("unknown column problem %+v", p)
	}
}

func TestBulkRequestErrors(t *testing.T) {
	e := mustStartAPI(t)
	const path = "/api/v1/links/bulk"
	one := `[{"destination":"https://shop.example/"}]`
	if p := e.call("POST", path+"?atomic=maybe", e.write, one, nil, 400, nil).problem(t); len(p.Errors) == 0 || p.Errors[0].Field != "atomic" {
		t.Fatalf("atomic=maybe: %+v", p)
	}
	for _, body := range []string{`{"destination":"https://shop.example/"}`, `[]`, `[`, `"links"`} {
		e.call("POST", path, e.write, body, nil, 400, nil).problem(t)
	}
	e.call("POST", path, e.write, one, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 201, nil) // curl -d
	if p := e.call("POST", path, e.write, one, map[string]string{"Content-Type": "text/plain"}, 415, nil).problem(t); p.Code != EUNSUPPORTED {
		t.Fatalf("text/plain: %+v", p)
	}
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i <= store.MaxBulkLinks; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"code":"m%d","destination":"https://shop.example/"}`, i)
	}
	sb.WriteString("]")
	if p := e.call("POST", path, e.write, sb.String(), nil, 400, nil).problem(t); !strings.Contains(p.Detail, "at most 10000") {
		t.Fatalf("10,001 links: %+v", p)
	}
	if e.exists("m0") {
		t.Fatal("an oversized request created links")
	}
	big := "[" + strings.Repeat(" ", 33<<20) + "]"
	if p := e.call("POST", path, e.write, big, nil, 413, nil).problem(t); !strings.Contains(p.Detail, "larger than 33554432 bytes") {
		t.Fatalf("413 names another limit than the bulk one: %+v", p)
	}
	e.call("POST", path, "", one, nil, 401, nil).problem(t)
	e.call("POST", path, e.read, one, nil, 403, nil).problem(t)
}

// TestBulkRedis runs a bulk request with a conflict against Redis, whose
// CreateLinks splits per-item requests into script calls of 1,000.
func TestBulkRedis(t *testing.T) {
	rs := openRedis(t, redistest.MustStart(t, redistest.Options{}).Addr(), "qredge")
	api, key := startOn(t, rs)
	if _, err := rs.CreateLink(context.Background(), &store.Link{Code: "r1500", Destination: "https://shop.example/", Status: 302}); err != nil {
		t.Fatal(err)
	}
	b := postBulk(t, api, key, bulkJSON("r", 2500), false)
	if b.Created != 2499 || b.Failed != 1 || b.Results[1500].Status != 409 {
		t.Fatalf("created %d failed %d", b.Created, b.Failed)
	}
	l, err := rs.GetLink(context.Background(), "", "r2499")
	if err != nil || l.Version != b.Results[2499].Link.Version {
		t.Fatalf("r2499: %+v %v", l, err)
	}
	// An atomic request with invalid items names the existing ones too.
	body := `[{"code":"r1","destination":"https://shop.example/"},{"code":"n1","destination":"ftp://x"},{"code":"n2","destination":"https://shop.example/"},{"code":"r2000","destination":"https://shop.example/"}]`
	req, _ := http.NewRequest("POST", api+"/api/v1/links/bulk", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b = bulkBody{}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 422 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	var got []string
	for _, r := range b.Results {
		got = append(got, fmt.Sprintf("%d:%d", r.Index, r.Status))
	}
	if strings.Join(got, " ") != "0:409 1:422 3:409" || b.Failed != 3 {
		t.Fatalf("results %v, want 0:409 1:422 3:409", got)
	}
	if _, err := rs.GetLink(context.Background(), "", "n2"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("a failed atomic request created n2: %v", err)
	}
}

func openRedis(tb testing.TB, addr, prefix string) *redisstore.Store {
	cfg := redisstore.DefaultConfig()
	cfg.Client.Addr, cfg.Prefix = addr, prefix
	rs, err := redisstore.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rs.Close() })
	return rs
}

// startOn serves the API over st and returns its URL and an admin key.
func startOn(t testing.TB, st Store) (string, string) {
	admin := "qk_test_admin_key_0123456789"
	cfg := DefaultConfig()
	cfg.AdminKeyHash = store.HashAPIKey(admin)
	ts := httptest.NewServer(NewServer(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	return ts.URL, admin
}

func bulkJSON(prefix string, n int) string {
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"code":"%s%d","destination":"https://shop.example/landing/%s%d?utm_source=qr","tags":["campaign"]}`, prefix, i, prefix, i)
	}
	sb.WriteString("]")
	return sb.String()
}

func postBulk(t testing.TB, url, key, body string, atomic bool) bulkBody {
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/links/bulk?atomic=%v", url, atomic), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bulkBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return b
}

// BenchmarkBulk10k creates 10,000 links in one atomic request, through the
// API into the embedded store and into Redis, and reports links/s.
func BenchmarkBulk10k(b *testing.B) {
	const n = 10000
	run := func(b *testing.B, newStore func(b *testing.B) Store) {
		b.ReportAllocs()
		var total time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			url, key := startOn(b, newStore(b))
			body := bulkJSON(fmt.Sprintf("b%d-", i), n)
			b.StartTimer()
			start := time.Now()
			if r := postBulk(b, url, key, body, true); r.Created != n {
				b.Fatalf("created %d", r.Created)
			}
			total += time.Since(start)
		}
		b.ReportMetric(float64(n*b.N)/total.Seconds(), "links/s")
	}
	b.Run("store=embedded", func(b *testing.B) {
		run(b, func(b *testing.B) Store {
			db, err := boltstore.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		})
	})
	b.Run("store=redis", func(b *testing.B) {
		addr := redistest.MustStart(b, redistest.Options{}).Addr()
		i := 0
		run(b, func(b *testing.B) Store {
			i++
			return openRedis(b, addr, fmt.Sprintf("bench%d", i))
		})
	})
}

// TestBulkCSVDetected: CSV sent as curl -d sends it (form-urlencoded), or
// with no Content-Type, is read as CSV, ';'-separated too; JSON stays
// JSON.
func TestBulkCSVDetected(t *testing.T) {
	e := mustStartAPI(t)
	for i, c := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded", "code,destination\nd1,https://a.example/\n"},
		{"", "code;destination\r\nd2;https://a.example/\r\n"},
		{"application/x-www-form-urlencoded", `[{"code":"d3","destination":"https://a.example/"}]`},
	} {
		var b BulkResponse
		e.call("POST", "/api/v1/links/bulk", e.write, c.body, map[string]string{"Content-Type": c.contentType}, 201, &b)
		if b.Created != 1 {
			t.Fatalf("case %d: %+v", i, b)
		}
	}
	e.call("GET", "/api/v1/links/d2", e.read, "", nil, 200, nil)
}
