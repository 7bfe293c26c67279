package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// observed records every (method, route, status) the API answered during
// the tests, for the OpenAPI check in TestMain.
var observed = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func observe(method, pattern string, status int, _ time.Duration) {
	if pattern == "" {
		return // unrouted requests: generic 404/405, documented in info
	}
	observed.Lock()
	observed.m[fmt.Sprintf("%s %s %d", method, pattern, status)] = true
	observed.Unlock()
}

func TestMain(m *testing.M) {
	code := m.Run()
	// The coverage check only makes sense when every test ran.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if msg := checkObservedAgainstOpenAPI(); msg != "" {
			fmt.Fprintln(os.Stderr, "FAIL: OpenAPI coverage:\n"+msg)
			code = 1
		}
	}
	os.Exit(code)
}

// documented returns "METHOD /path STATUS" for every documented response.
func documented(t testing.TB) map[string]bool {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	out := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("openapi.json %s %s: %v", method, path, err)
			}
			for status := range op.Responses {
				out[fmt.Sprintf("%s %s %s", strings.ToUpper(method), path, status)] = true
			}
		}
	}
	return out
}

func checkObservedAgainstOpenAPI() string {
	doc := documented(nopTB{})
	observed.Lock()
	defer observed.Unlock()
	var problems []string
	for k := range observed.m {
		if !doc[k] {
			problems = append(problems, "answered but not documented: "+k)
		}
	}
	for k := range doc {
		if !observed.m[k] {
			problems = append(problems, "documented but never seen in a test: "+k)
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "\n")
}

type nopTB struct{ testing.TB }

func (nopTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func TestRoutesMatchOpenAPI(t *testing.T) {
	doc := documented(t)
	docRoutes := map[string]bool{}
	for k := range doc {
		parts := strings.SplitN(k, " ", 3)
		docRoutes[parts[0]+" "+parts[1]] = true
	}
	cfg := DefaultConfig()
	cfg.Resolver = &fakeResolver{}
	cfg.Stats = &fakeStats{}
	cfg.Brake = &fakeBrake{}
	cfg.Backup = func(http.ResponseWriter, *http.Request) {}
	srv := NewServer(cfg, nil, slog.Default())
	served := map[string]bool{}
	for _, r := range srv.Routes() {
		served[r.Method+" "+r.Pattern] = true
		if !docRoutes[r.Method+" "+r.Pattern] {
			t.Errorf("route %s %s is not in openapi.json", r.Method, r.Pattern)
		}
	}
	for r := range docRoutes {
		if !served[r] {
			t.Errorf("openapi.json documents %s, which the server does not serve", r)
		}
	}
}

// env is an API server over a fresh embedded store, on a real loopback
// port.
type env struct {
	t     *testing.T
	url   string
	db    *boltstore.DB
	admin string // admin key
	write string // write-scope key
	read  string // read-scope key
	res   *fakeResolver
	stats *fakeStats
	brake *fakeBrake
}

func mustStartAPI(t *testing.T) *env {
	t.Helper()
	return startAPI(t, apiOptions{edit: func(c *Config) {
		c.RateLimit = -1 // the limits have their own tests (ratelimit_test.go)
	}})
}

// apiOptions change the server startAPI starts.
type apiOptions struct {
	log     *slog.Logger              // nil: discard
	edit    func(*Config)             // after the tests' defaults
	store   func(*boltstore.DB) Store // wraps the store; nil: the store itself
	prepare func(*Server)             // before the first request
}

// startAPI serves the API over a fresh embedded store, with a fake
// resolver, stats and brake, an admin key and a write and a read key.
func startAPI(t *testing.T, o apiOptions) *env {
	t.Helper()
	db, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	admin := "qk_test_admin_key_0123456789"
	cfg := DefaultConfig()
	cfg.PublicURL = "https://go.example"
	cfg.AdminKeyHash = store.HashAPIKey(admin)
	cfg.Observe = observe
	res := &fakeResolver{}
	cfg.Resolver, cfg.Stats, cfg.Brake = res, &fakeStats{}, &fakeBrake{}
	if o.edit != nil {
		o.edit(&cfg)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var st Store = db
	if o.store != nil {
		st = o.store(db)
	}
	srv := NewServer(cfg, st, o.log)
	if o.prepare != nil {
		o.prepare(srv)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, db: db, admin: admin, res: res, stats: cfg.Stats.(*fakeStats), brake: cfg.Brake.(*fakeBrake)}
	e.write = e.newKey("writer", store.ScopeWrite)
	e.read = e.newKey("reader", store.ScopeRead)
	return e
}

func (e *env) newKey(name, scope string) string {
	e.t.Helper()
	var ck struct {
		Key string `json:"key"`
	}
	e.call("POST", "/api/v1/keys", e.admin, fmt.Sprintf(`{"name":%q,"scope":%q}`, name, scope), nil, 201, &ck)
	return ck.Key
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) problem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("Content-Type = %q, want %s; body %s", ct, ProblemContentType, r.body)
	}
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.status || p.Title == "" || p.Detail == "" || p.Code == "" || p.Type == "" {
		t.Fatalf("incomplete problem %+v for status %d", p, r.status)
	}
	// The detail names each field once: "code: invalid ...", never
	// "code: code: invalid ..." or "limit: limit must ...".
	for _, fe := range p.Errors {
		if fe.Field != "" && (strings.HasPrefix(fe.Message, fe.Field+":") || strings.HasPrefix(fe.Message, fe.Field+" ")) {
			t.Fatalf("problem %+v names field %q twice", p, fe.Field)
		}
	}
	if strings.Contains(p.Detail, "\u00c3") {
		t.Fatalf("problem %+v shows a UTF-8 byte as Latin-1", p)
	}
	return p
}

// TestQueryAndPathErrors checks the 400s of bad path and query
// parameters: each names its field once, and shows a refused character
// whole.
func TestQueryAndPathErrors(t *testing.T) {
	e := mustStartAPI(t)
	f := func(path, field, detail string) {
		t.Helper()
		p := e.call("GET", path, e.admin, "", nil, 400, nil).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != field || p.Detail != field+": "+p.Errors[0].Message || !strings.Contains(p.Detail, detail) {
			t.Fatalf("GET %s: problem %+v, want field %q and detail with %q", path, p, field, detail)
		}
	}
	f("/api/v1/links/caf%C3%A9", "code", `code: invalid character 'é' at position 3`)
	f("/api/v1/links/a%C3", "code", `code: invalid byte %C3 (not UTF-8) at position 1`)
	f("/api/v1/links/x?domain=b%C3%BCcher.example", "domain", `domain: invalid character 'ü'`)
	f("/api/v1/links?tag=%E2%82%ACuro", "tag", `tag: invalid character '€'`)
	f("/api/v1/links?limit=0", "limit", "limit: must be")
	f("/api/v1/links?cursor=%21", "cursor", "cursor: is not one")
	f("/api/v1/audit?code=a%20b", "code", "code: invalid character ' '")
}

// call sends a request and checks the status; out, when not nil, receives
// the decoded JSON body.
func (e *env) call(method, path, key, body string, hdr map[string]string, want int, out any) result {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}

type apiLink struct {
	store.Link
	ShortURL string `json:"short_url"`
}

func TestCreateGetDelete(t *testing.T) {
	e := mustStartAPI(t)
	var l apiLink
	r := e.call("POST", "/api/v1/links", e.write, `{"code": "spring24", "destination": "https://example.com/a", "status": 302, "tags": ["tv"]}`, nil, 201, &l)
	if l.Code != "spring24" || l.ShortURL != "https://go.example/spring24" || l.Version == 0 || l.Status != 302 {
		t.Fatalf("created %+v", l)
	}
	if r.header.Get("Location") != "/api/v1/links/spring24" || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, l.Version) {
		t.Fatalf("headers %v", r.header)
	}
	var got apiLink
	r = e.call("GET", "/api/v1/links/spring24", e.read, "", nil, 200, &got)
	if got.Destination != "https://example.com/a" || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, l.Version) {
		t.Fatalf("got %+v", got)
	}
	p := e.call("POST", "/api/v1/links", e.write, `{"code": "spring24", "destination": "https://example.com/b"}`, nil, 409, nil).problem(t)
	if p.Code != store.ECONFLICT || !strings.Contains(p.Detail, "spring24") {
		t.Fatalf("conflict problem %+v", p)
	}
	e.call("DELETE", "/api/v1/links/spring24", e.write, "", nil, 204, nil)
	p = e.call("GET", "/api/v1/links/spring24", e.read, "", nil, 404, nil).problem(t)
	if p.Code != store.ENOTFOUND {
		t.Fatalf("not found problem %+v", p)
	}
	e.call("DELETE", "/api/v1/links/spring24", e.write, "", nil, 404, nil).problem(t)
}

func TestGeneratedCode(t *testing.T) {
	e := mustStartAPI(t)
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		var l apiLink
		e.call("POST", "/api/v1/links", e.write, `{"destination": "https://example.com/"}`, nil, 201, &l)
		if len(l.Code) != store.GeneratedCodeLen || store.CheckCode(l.Code) != "" || seen[l.Code] || l.Status != 302 {
			t.Fatalf("generated %+v", l)
		}
		seen[l.Code] = true
	}
}

func TestDomainLinks(t *testing.T) {
	e := mustStartAPI(t)
	var a, b apiLink
	e.call("POST", "/api/v1/links", e.write, `{"code":"promo","destination":"https://example.com/"}`, nil, 201, &a)
	r := e.call("POST", "/api/v1/links", e.write, `{"code":"promo","domain":"Go.Brand.Example","destination":"https://brand.example/"}`, nil, 201, &b)
	if b.Domain != "go.brand.example" || b.ShortURL != "https://go.brand.example/promo" || r.header.Get("Location") != "/api/v1/links/promo?domain=go.brand.example" {
		t.Fatalf("domain link %+v, location %q", b, r.header.Get("Location"))
	}
	var got apiLink
	e.call("GET", "/api/v1/links/promo?domain=go.brand.example", e.read, "", nil, 200, &got)
	if got.Destination != "https://brand.example/" {
		t.Fatalf("got %+v", got)
	}
	e.call("GET", "/api/v1/links/promo?domain=bad_domain:80", e.read, "", nil, 400, nil).problem(t)
}

func TestValidationErrors(t *testing.T) {
	e := mustStartAPI(t)
	tests := []struct {
		name, body string
		status     int
		field      string
		detail     string
	}{
		{"malformed", `{"code": "x",`, 400, "", "malformed JSON"},
		{"syntax", `{"code" "x"}`, 400, "", "malformed JSON at byte"},
		{"not an object", `["x"]`, 400, "", "JSON object"},
		{"empty", ` `, 400, "", "empty"},
		{"trailing data", `{"destination":"https://example.com/"} {}`, 400, "", "after top-level value"},
		{"unknown field", `{"destination":"https://example.com/","colour":"red"}`, 400, "colour", `colour: unknown field`},
		{"unknown nested field", `{"destination":"https://example.com/","rules":[{"when":{"os":["ios"]},"destination":"https://x.example/"}]}`, 400, "rules[0].when.os", `rules[0].when.os: unknown field`},
		{"wrong type", `{"destination":"https://example.com/","status":"302"}`, 400, "status", "must be a number"},
		{"read-only", `{"destination":"https://example.com/","version":3}`, 400, "version", "read-only"},
		{"bad time", `{"destination":"https://example.com/","schedule":{"not_before":"tomorrow"}}`, 400, "schedule.not_before", "tomorrow"},
		{"missing destination", `{"code":"x"}`, 422, "destination", "must not be empty"},
		{"javascript", `{"destination":"javascript:alert(1)"}`, 422, "destination", "javascript URLs are not allowed"},
		{"bad status", `{"destination":"https://example.com/","status":200}`, 422, "status", "301, 302, 307 or 308"},
		{"bad code", `{"code":"a b","destination":"https://example.com/"}`, 422, "code", "invalid character"},
		{"reserved code", `{"code":"api","destination":"https://example.com/"}`, 422, "code", "reserved"},
		{"bad country", `{"destination":"https://example.com/","rules":[{"when":{"device":["ios"]},"destination":"https://a.example/"},{"when":{"device":["android"]},"destination":"https://b.example/"},{"when":{"country":["USA"]},"destination":"https://c.example/"}]}`, 422, "rules[2].when.country[0]", `"USA" is not an ISO 3166 alpha-2 code`},
		{"bad weight", `{"destination":"https://example.com/","variants":[{"destination":"https://a.example/","weight":0},{"destination":"https://b.example/","weight":1}]}`, 422, "variants[0].weight", "between 1 and"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			p := e.call("POST", "/api/v1/links", e.write, tt.body, nil, tt.status, nil).problem(t)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("detail %q does not contain %q", p.Detail, tt.detail)
			}
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Fatalf("errors %+v do not name field %q", p.Errors, tt.field)
			}
		})
	}
	// Nothing was stored by any of them.
	page, err := e.db.ListLinks(context.Background(), store.ListOptions{})
	if err != nil || len(page.Links) != 0 {
		t.Fatalf("invalid requests stored %d links (%v)", len(page.Links), err)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := mustStartAPI(t)
	big := `{"destination":"https://example.com/","tags":["` + strings.Repeat("a", 1<<20) + `"]}`
	p := e.call("POST", "/api/v1/links", e.write, big, nil, 413, nil).problem(t)
	if p.Code != store.ETOOLARGE {
		t.Fatalf("problem %+v", p)
	}
	e.call("POST", "/api/v1/links", e.write, `{"code":"x","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("PATCH", "/api/v1/links/x", e.write, big, nil, 413, nil).problem(t)
	e.call("POST", "/api/v1/keys", e.admin, big, nil, 413, nil).problem(t)
}

func TestPatch(t *testing.T) {
	e := mustStartAPI(t)
	var l apiLink
	e.call("POST", "/api/v1/links", e.write, `{"code":"p","destination":"https://example.com/a","tags":["a"],"schedule":{"not_after":"2030-01-01T00:00:00Z","after_url":"https://example.com/over"}}`, nil, 201, &l)

	// Partial: only destination changes; tags and schedule stay.
	var u apiLink
	r := e.call("PATCH", "/api/v1/links/p", e.write, `{"destination":"https://example.com/b"}`, map[string]string{"If-Match": fmt.Sprintf(`"%d"`, l.Version)}, 200, &u)
	if u.Destination != "https://example.com/b" || len(u.Tags) != 1 || u.Schedule == nil || u.Version <= l.Version || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, u.Version) {
		t.Fatalf("patched %+v", u)
	}
	// Nested merge: only schedule.after_url changes.
	e.call("PATCH", "/api/v1/links/p", e.write, `{"schedule":{"after_url":"https://example.com/later"}}`, map[string]string{"Content-Type": "application/merge-patch+json"}, 200, &u)
	if u.Schedule.AfterURL != "https://example.com/later" || u.Schedule.NotAfter == nil {
		t.Fatalf("nested patch %+v", u.Schedule)
	}
	// null removes optional fields.
	u = apiLink{}
	e.call("PATCH", "/api/v1/links/p", e.write, `{"schedule":null,"tags":null,"disabled":true}`, nil, 200, &u)
	if u.Schedule != nil || len(u.Tags) != 0 || !u.Disabled {
		t.Fatalf("null patch %+v", u)
	}
	// Stale If-Match: 412, nothing changes.
	p := e.call("PATCH", "/api/v1/links/p", e.write, `{"destination":"https://example.com/stale"}`, map[string]string{"If-Match": fmt.Sprintf(`"%d"`, l.Version)}, 412, nil).problem(t)
	if p.Code != store.EPRECONDITION {
		t.Fatalf("problem %+v", p)
	}
	e.call("PATCH", "/api/v1/links/p", e.write, `{"destination":"https://example.com/stale"}`, map[string]string{"If-Match": `W/"999999"`}, 412, nil)
	e.call("PATCH", "/api/v1/links/p", e.write, `{}`, map[string]string{"If-Match": "not-a-version"}, 400, nil).problem(t)
	var cur apiLink
	e.call("GET", "/api/v1/links/p", e.read, "", nil, 200, &cur)
	if cur.Destination != "https://example.com/b" {
		t.Fatalf("stale patch changed the link: %+v", cur)
	}
	// Invalid values and immutable fields.
	e.call("PATCH", "/api/v1/links/p", e.write, `{"destination":"ftp://x"}`, nil, 422, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", e.write, `{"destination":null}`, nil, 422, nil).problem(t)
	if p := e.call("PATCH", "/api/v1/links/p", e.write, `{"code":"q"}`, nil, 422, nil).problem(t); p.Errors[0].Field != "code" {
		t.Fatalf("problem %+v", p)
	}
	e.call("PATCH", "/api/v1/links/p", e.write, `{"code":"p","destination":"https://example.com/c"}`, nil, 200, nil)
	e.call("PATCH", "/api/v1/links/p", e.write, `{"domain":"x.example"}`, nil, 422, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", e.write, `{"short_url":"x"}`, nil, 400, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", e.write, `{"nope":1}`, nil, 400, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", e.write, `[1]`, nil, 400, nil).problem(t)
	e.call("PATCH", "/api/v1/links/missing", e.write, `{}`, nil, 404, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", e.read, `{}`, nil, 403, nil).problem(t)
	e.call("PATCH", "/api/v1/links/p", "", `{}`, nil, 401, nil).problem(t)
}

func TestDeleteIfMatch(t *testing.T) {
	e := mustStartAPI(t)
	var l apiLink
	e.call("POST", "/api/v1/links", e.write, `{"code":"d","destination":"https://example.com/"}`, nil, 201, &l)
	e.call("DELETE", "/api/v1/links/d", e.write, "", map[string]string{"If-Match": `"999"`}, 412, nil).problem(t)
	e.call("DELETE", "/api/v1/links/d", e.write, "", map[string]string{"If-Match": "x"}, 400, nil).problem(t)
	e.call("DELETE", "/api/v1/links/d", e.read, "", nil, 403, nil).problem(t)
	e.call("DELETE", "/api/v1/links/d", "", "", nil, 401, nil).problem(t)
	e.call("DELETE", "/api/v1/links/d", e.write, "", map[string]string{"If-Match": fmt.Sprintf(`"%d"`, l.Version)}, 204, nil)
}

func TestList(t *testing.T) {
	e := mustStartAPI(t)
	for i := 0; i < 7; i++ {
		tags := `["all"]`
		if i%2 == 0 {
			tags = `["all","even"]`
		}
		e.call("POST", "/api/v1/links", e.write, fmt.Sprintf(`{"code":"l%d","destination":"https://example.com/%d","tags":%s}`, i, i, tags), nil, 201, nil)
	}
	var codes []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		var page struct {
			Links      []apiLink `json:"links"`
			NextCursor string    `json:"next_cursor"`
		}
		e.call("GET", "/api/v1/links?limit=3&tag=all&cursor="+cursor, e.read, "", nil, 200, &page)
		for _, l := range page.Links {
			if l.ShortURL == "" {
				t.Fatalf("listed link without short_url: %+v", l)
			}
			codes = append(codes, l.Code)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if fmt.Sprint(codes) != "[l0 l1 l2 l3 l4 l5 l6]" {
		t.Fatalf("listed %v", codes)
	}
	var even struct {
		Links []apiLink `json:"links"`
	}
	e.call("GET", "/api/v1/links?tag=even", e.read, "", nil, 200, &even)
	if len(even.Links) != 4 {
		t.Fatalf("tag=even listed %d", len(even.Links))
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=%21%21", "tag=a%20b"} {
		e.call("GET", "/api/v1/links?"+q, e.read, "", nil, 400, nil).problem(t)
	}
	e.call("GET", "/api/v1/links", "", "", nil, 401, nil).problem(t)
	var empty struct {
		Links []apiLink `json:"links"`
	}
	if r := e.call("GET", "/api/v1/links?tag=none", e.read, "", nil, 200, &empty); !bytes.Contains(r.body, []byte(`"links":[]`)) {
		t.Fatalf("empty listing %s", r.body)
	}
}

func TestAuth(t *testing.T) {
	e := mustStartAPI(t)
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer qk_unknown"} {
		req, _ := http.NewRequest("GET", e.url+"/api/v1/links/x", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("Authorization %q: %d %v", h, resp.StatusCode, resp.Header)
		}
	}
	e.call("POST", "/api/v1/links", e.read, `{"destination":"https://example.com/"}`, nil, 403, nil).problem(t)
	e.call("POST", "/api/v1/links", "", `{"destination":"https://example.com/"}`, nil, 401, nil).problem(t)
	e.call("GET", "/api/v1/keys", e.write, "", nil, 403, nil).problem(t)
	e.call("GET", "/api/v1/keys", "", "", nil, 401, nil).problem(t)
	// The OpenAPI document is public.
	var doc map[string]any
	e.call("GET", "/api/v1/openapi.json", "", "", nil, 200, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
}

func TestKeys(t *testing.T) {
	e := mustStartAPI(t)
	var created struct {
		ID, Key, Scope, Prefix string
	}
	e.call("POST", "/api/v1/keys", e.admin, `{"name":"ci","scope":"read"}`, nil, 201, &created)
	if !strings.HasPrefix(created.Key, store.APIKeyPrefix) || !strings.HasPrefix(created.Key, created.Prefix) || created.Scope != "read" {
		t.Fatalf("created %+v", created)
	}
	r := e.call("GET", "/api/v1/keys", e.admin, "", nil, 200, nil)
	if bytes.Contains(r.body, []byte(created.Key)) || bytes.Contains(r.body, []byte(store.HashAPIKey(created.Key))) {
		t.Fatalf("key listing leaks a secret or hash: %s", r.body)
	}
	e.call("GET", "/api/v1/links", created.Key, "", nil, 200, nil)
	e.call("DELETE", "/api/v1/keys/"+created.ID, e.admin, "", nil, 204, nil)
	e.call("GET", "/api/v1/links", created.Key, "", nil, 401, nil)
	e.call("DELETE", "/api/v1/keys/"+created.ID, e.admin, "", nil, 404, nil).problem(t)
	e.call("DELETE", "/api/v1/keys/x", e.read, "", nil, 403, nil).problem(t)
	e.call("DELETE", "/api/v1/keys/x", "", "", nil, 401, nil).problem(t)
	e.call("POST", "/api/v1/keys", e.admin, `{"name":"","scope":"root"}`, nil, 422, nil).problem(t)
	e.call("POST", "/api/v1/keys", e.admin, `{"name":"x","scope":"read","extra":1}`, nil, 400, nil).problem(t)
	e.call("POST", "/api/v1/keys", e.write, `{"name":"x","scope":"admin"}`, nil, 403, nil).problem(t)
	e.call("POST", "/api/v1/keys", "", `{"name":"x","scope":"admin"}`, nil, 401, nil).problem(t)
	// Keys are stored hashed: the secret appears nowhere in the store.
	keys, _ := e.db.ListKeys(context.Background())
	for _, k := range keys {
		if k.Hash == created.Key || strings.Contains(k.Hash, created.Key) {
			t.Fatal("key stored in clear")
		}
	}
}

func TestUnroutedProblems(t *testing.T) {
	e := mustStartAPI(t)
	p := e.call("GET", "/api/v1/nope", e.read, "", nil, 404, nil).problem(t)
	if !strings.Contains(p.Detail, "openapi.json") {
		t.Fatalf("problem %+v", p)
	}
	r := e.call("PUT", "/api/v1/links/x", e.write, `{}`, nil, 405, nil)
	r.problem(t)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "GET") {
		t.Fatalf("Allow %q", allow)
	}
}

func TestEnsureAdminKey(t *testing.T) {
	db, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if s, err := EnsureAdminKey(ctx, db, true); s != "" || err != nil {
		t.Fatalf("with a configured key: %q %v", s, err)
	}
	s, err := EnsureAdminKey(ctx, db, false)
	if err != nil || !strings.HasPrefix(s, store.APIKeyPrefix) {
		t.Fatalf("first start: %q %v", s, err)
	}
	k, err := db.KeyByHash(ctx, store.HashAPIKey(s))
	if err != nil || k.Scope != store.ScopeAdmin {
		t.Fatalf("bootstrap key %+v %v", k, err)
	}
	if s2, err := EnsureAdminKey(ctx, db, false); s2 != "" || err != nil {
		t.Fatalf("second start created another key: %q %v", s2, err)
	}
}

// fakeResolver records what the API handed over; the real resolver is the
// hot path's, tested in redirect and end to end in cmd/qredge.
type fakeResolver struct {
	mu   sync.Mutex
	last ResolveRequest
}

func (f *fakeResolver) Resolve(l *store.Link, req ResolveRequest) Resolution {
	f.mu.Lock()
	f.last = req
	f.mu.Unlock()
	reason := "destination"
	if len(l.Variants) > 0 {
		reason = "variant"
	}
	return Resolution{Status: l.Status, Location: l.Destination, Reason: reason, At: req.At}
}

func TestResolveParameters(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"r","destination":"https://example.com/","variants":[{"destination":"https://a.example/","weight":1},{"destination":"https://b.example/","weight":3}]}`, nil, 201, nil)
	var res Resolution
	e.call("GET", "/api/v1/links/r/resolve?ua=Mozilla&lang=de&country=de&ip=203.0.113.7&at=2026-11-27T12:00:00Z&query=src%3Dtv&header=X-Test:%201&cookie=qv_r%3Dv1", e.read, "", nil, 200, &res)
	if res.Status != 302 || res.Reason != "variant" || len(res.Variants) != 2 || res.Variants[1].Share != 0.75 {
		t.Fatalf("resolution %+v", res)
	}
	if !res.At.Equal(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("at %v", res.At)
	}
	e.res.mu.Lock()
	got := e.res.last
	e.res.mu.Unlock()
	if got.UserAgent != "Mozilla" || got.AcceptLanguage != "de" || got.Country != "DE" || got.IP.String() != "203.0.113.7" ||
		got.RawQuery != "src=tv" || fmt.Sprint(got.Headers) != "[[X-Test 1]]" || fmt.Sprint(got.Cookies) != "[[qv_r v1]]" {
		t.Fatalf("resolver got %+v", got)
	}
	for _, bad := range []string{"country=USA", "ip=1.2.3", "at=tomorrow", "header=nocolon", "cookie=novalue", "ua=%01"} {
		p := e.call("GET", "/api/v1/links/r/resolve?"+bad, e.read, "", nil, 400, nil).problem(t)
		if len(p.Errors) != 1 {
			t.Fatalf("%s: %+v", bad, p)
		}
	}
	e.call("GET", "/api/v1/links/missing/resolve", e.read, "", nil, 404, nil).problem(t)
	e.call("GET", "/api/v1/links/r/resolve", "", "", nil, 401, nil).problem(t)
}

// TestListSearch: q finds codes and destinations in any case, domain
// picks one domain (- the links on every host), and the pages of a search
// together hold every match once.
func TestListSearch(t *testing.T) {
	e := mustStartAPI(t)
	var want []string
	for i := range 30 {
		code, dest, domain := fmt.Sprintf("c%02d", i), fmt.Sprintf("https://example.com/%d", i), ""
		if i%3 == 0 {
			dest = fmt.Sprintf("https://Shop.example/spring/%d", i)
			want = append(want, code)
		}
		if i%5 == 0 {
			domain = "go.example"
		}
		e.call("POST", "/api/v1/links", e.write, fmt.Sprintf(`{"code":%q,"destination":%q,"domain":%q}`, code, dest, domain), nil, 201, nil)
	}
	e.call("POST", "/api/v1/links", e.write, `{"code":"SPRING-sale","destination":"https://example.com/x"}`, nil, 201, nil)
	want = append(want, "SPRING-sale")
	var got []string
	cursor := ""
	for range 20 {
		var page linkList
		e.call("GET", "/api/v1/links?q=spring&limit=4&cursor="+cursor, e.read, "", nil, 200, &page)
		for _, l := range page.Links {
			got = append(got, l.Code)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("q=spring found %v, want %v", got, want)
	}
	var page linkList
	e.call("GET", "/api/v1/links?domain=go.example&limit=100", e.read, "", nil, 200, &page)
	if len(page.Links) != 6 {
		t.Fatalf("domain=go.example: %d links, want 6", len(page.Links))
	}
	e.call("GET", "/api/v1/links?domain=-&q=c2&limit=100", e.read, "", nil, 200, &page)
	if len(page.Links) != 8 { // c20..c29 but c20 and c25 on go.example
		t.Fatalf("domain=-&q=c2: %d links, want 8", len(page.Links))
	}
	e.call("GET", "/api/v1/links?q="+strings.Repeat("x", 201), e.read, "", nil, 400, nil)
	e.call("GET", "/api/v1/links?domain=b%C3%BCcher.example", e.read, "", nil, 400, nil)
}

// TestListSeveralTags: tag=a&tag=b and tag=a,b list the links that carry
// both.
func TestListSeveralTags(t *testing.T) {
	e := mustStartAPI(t)
	for code, tags := range map[string]string{"x": `["spring","tv"]`, "y": `["spring"]`, "z": `["tv"]`} {
		e.call("POST", "/api/v1/links", e.write, fmt.Sprintf(`{"code":%q,"destination":"https://example.com/","tags":%s}`, code, tags), nil, 201, nil)
	}
	for _, q := range []string{"tag=spring&tag=tv", "tag=tv,spring"} {
		var page linkList
		e.call("GET", "/api/v1/links?"+q, e.read, "", nil, 200, &page)
		if len(page.Links) != 1 || page.Links[0].Code != "x" {
			t.Fatalf("%s: %+v", q, page.Links)
		}
	}
	e.call("GET", "/api/v1/links?tag=spring,a%20b", e.read, "", nil, 400, nil)
}

// TestVariantNamesKept: replacing unnamed variants keeps the name of a
// variant whose destination stays, and gives a new one a name no earlier
// variant had, so that no cookie holder moves and no stats mix.
func TestVariantNamesKept(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"ab","destination":"https://example.com/",
		"variants":[{"destination":"https://a.example/","weight":50},{"destination":"https://b.example/","weight":50}]}`, nil, 201, nil)
	var l apiLink
	e.call("PATCH", "/api/v1/links/ab", e.write, `{"variants":[{"destination":"https://b.example/","weight":50},{"destination":"https://c.example/","weight":50}]}`, nil, 200, &l)
	sum := sha256.Sum256([]byte("https://c.example/"))
	c := "d" + hex.EncodeToString(sum[:3])
	if len(l.Variants) != 2 || l.Variants[0].Name != "v2" || l.Variants[1].Name != c {
		t.Fatalf("variants after the change %+v, want b kept as v2 and c named %s", l.Variants, c)
	}
	// c keeps its name in any position; the same destination twice gets
	// a suffix; a given name stays.
	e.call("PATCH", "/api/v1/links/ab", e.write, `{"variants":[{"destination":"https://c.example/","weight":1},{"destination":"https://c.example/","weight":1},{"name":"keep","destination":"https://e.example/","weight":1}]}`, nil, 200, &l)
	if l.Variants[0].Name != c || l.Variants[1].Name != c+"-2" || l.Variants[2].Name != "keep" {
		t.Fatalf("variants %+v: the same destination twice, and a given name", l.Variants)
	}
}
