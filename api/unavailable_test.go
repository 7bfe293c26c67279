package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
)

// TestRedisDown stops Redis under a running API: every route but the
// OpenAPI document answers 503 (a stored key cannot be looked up; with the
// --api-key key, the store itself cannot be reached), as a problem that
// leaks nothing of the failure, and the document lists 503 for each.
func TestRedisDown(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	rs := openRedis(t, srv.Addr(), "down")
	admin := "qk_test_admin_key_0123456789"
	cfg := DefaultConfig()
	cfg.AdminKeyHash = store.HashAPIKey(admin)
	cfg.Observe = observe
	cfg.Resolver, cfg.Stats, cfg.Brake = &fakeResolver{}, &fakeStats{}, &fakeBrake{}
	api := NewServer(cfg, rs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL, admin: admin}
	stored := e.newKey("stored", store.ScopeAdmin)
	e.call("POST", "/api/v1/links", admin, `{"code":"x","destination":"https://example.com/"}`, nil, 201, nil)
	srv.Kill()

	doc := documented(t)
	check := func(r result, what string) {
		t.Helper()
		p := r.problem(t)
		if p.Code != store.EUNAVAILABLE || strings.Contains(p.Detail, srv.Addr()) || strings.Contains(p.Detail, "dial") {
			t.Fatalf("%s: problem %+v", what, p)
		}
	}
	// Each request waits for the client's dial retries: send them at once.
	routes := api.Routes()
	results := make([]result, len(routes))
	var wg sync.WaitGroup
	for i, rt := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = send(t, ts.URL, rt, stored)
		}()
	}
	wg.Wait()
	for i, rt := range routes {
		what := rt.Method + " " + rt.Pattern
		// The console's sign-in is public, but looks its key up.
		signIn := rt.Method == "POST" && rt.Pattern == "/api/v1/session"
		if rt.Scope == "" && !signIn {
			want := 200
			if rt.Method == "DELETE" {
				want = 204 // the sign-out, which needs no store
			}
			if results[i].status != want || doc[what+" 503"] {
				t.Errorf("%s: status %d; documents 503: %v", what, results[i].status, doc[what+" 503"])
			}
			continue
		}
		if !doc[what+" 503"] {
			t.Errorf("%s does not document 503", what)
		}
		if results[i].status != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503; body %s", what, results[i].status, results[i].body)
		}
		check(results[i], what)
	}
	// The --api-key key needs no lookup: the store's own calls fail.
	check(e.call("GET", "/api/v1/links/x", admin, "", nil, 503, nil), "GET a link")
	check(e.call("POST", "/api/v1/links", admin, `{"code":"y","destination":"https://example.com/"}`, nil, 503, nil), "create")
	check(e.call("POST", "/api/v1/links/bulk", admin, `[{"code":"y","destination":"https://example.com/"}]`, nil, 503, nil), "bulk")
	if _, err := rs.GetLink(context.Background(), "", "x"); store.ErrorCode(err) != store.EUNAVAILABLE {
		t.Fatalf("GetLink with Redis down: %v", err)
	}
}

// TestOpenAPIServer checks that the served document names the configured
// public URL as its server, and is otherwise the embedded one.
func TestOpenAPIServer(t *testing.T) {
	e := mustStartAPI(t)
	if got := withServer(openAPI, "http://localhost:8080"); !bytes.Equal(got, openAPI) {
		t.Fatal("withServer changed more than the server: members out of order or reformatted")
	}
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths map[string]any `json:"paths"`
	}
	r := e.call("GET", "/api/v1/openapi.json", "", "", nil, 200, &doc)
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "https://go.example" || len(doc.Paths) == 0 {
		t.Fatalf("servers %+v, %d paths", doc.Servers, len(doc.Paths))
	}
	if strings.Contains(string(r.body), "localhost:8080") {
		t.Fatal("the served document still names localhost:8080")
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// send requests rt (with x for its path parameters and an empty JSON
// object as the body of writes) with key, for the tests that cannot use
// env.call from several goroutines.
func send(t *testing.T, base string, rt Route, key string) result {
	path := strings.NewReplacer("{code}", "x", "{id}", "x").Replace(rt.Pattern)
	var body io.Reader
	switch {
	case rt.Method == "POST" && rt.Pattern == "/api/v1/session":
		body = strings.NewReader(`{"api_key":"` + key + `"}`)
	case rt.Method == "POST" || rt.Method == "PATCH":
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(rt.Method, base+path, body)
	if err != nil {
		t.Error(err)
		return result{}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return result{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b}
}
