package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/linkfile"
)

const adminKey = "qk_client_test_admin_0123456789"

// mustStartAPI serves the real API over a fresh embedded store and
// returns a client of it with the admin key.
func mustStartAPI(t *testing.T, edit func(*api.Config)) (*client.Client, *boltstore.DB) {
	t.Helper()
	db, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := api.DefaultConfig()
	cfg.PublicURL = "https://go.example"
	cfg.AdminKeyHash = store.HashAPIKey(adminKey)
	cfg.RateLimit = -1
	if edit != nil {
		edit(&cfg)
	}
	ts := httptest.NewServer(api.NewServer(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(ts.Close)
	c := client.DefaultConfig()
	c.URL, c.APIKey = ts.URL+"/", adminKey
	return client.New(c), db
}

func TestLinks(t *testing.T) {
	c, _ := mustStartAPI(t, nil)
	ctx := context.Background()
	l, err := c.CreateLink(ctx, &linkfile.Input{Code: "one", Destination: "https://example.com/?a=1&b=2", Tags: []string{"t"}})
	if err != nil || l.Code != "one" || l.Version == 0 || l.Status != 302 {
		t.Fatalf("CreateLink: %+v, %v", l, err)
	}
	// A problem+json answer is an *Error with its detail, code and fields.
	_, err = c.CreateLink(ctx, &linkfile.Input{Code: "one", Destination: "https://example.com/"})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Problem.Code != store.ECONFLICT || ae.Problem.Detail == "" {
		t.Fatalf("a second create: %#v", err)
	}
	if want := "server answered 409 Conflict: " + ae.Problem.Detail; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = c.CreateLink(ctx, &linkfile.Input{Code: "two", Destination: "ftp://example.com/"})
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnprocessableEntity || len(ae.Problem.Errors) == 0 || ae.Problem.Errors[0].Field != "destination" {
		t.Fatalf("an invalid link: %#v", err)
	}

	// Bulk: each failure is the store error of its link.
	links := []*store.Link{
		{Code: "b1", Destination: "https://example.com/1", Tags: []string{"t"}},
		{Code: "one", Destination: "https://example.com/dup"},
		{Code: "b3", Destination: "nope"},
		{Code: "b4", Destination: "https://example.com/4"},
	}
	errs, err := c.CreateLinks(ctx, links, false)
	if err != nil || len(errs) != 4 {
		t.Fatalf("CreateLinks: %v, %v", errs, err)
	}
	if errs[0] != nil || errs[3] != nil || store.ErrorCode(errs[1]) != store.ECONFLICT || store.ErrorCode(errs[2]) != store.EINVALID {
		t.Fatalf("errors %v", errs)
	}
	if msg := store.ErrorMessage(errs[1]); !strings.Contains(msg, `"one"`) {
		t.Errorf("conflict message %q does not name the code", msg)
	}
	if fe := store.ErrorFields(errs[2]); len(fe) != 1 || fe[0].Field != "destination" {
		t.Errorf("invalid link fields %v", fe)
	}
	// Atomic: nothing created, each failure named.
	errs, err = c.CreateLinks(ctx, []*store.Link{{Code: "a1", Destination: "https://example.com/"}, {Code: "b1", Destination: "https://example.com/"}}, true)
	if err != nil || errs[0] != nil || store.ErrorCode(errs[1]) != store.ECONFLICT {
		t.Fatalf("atomic: %v, %v", errs, err)
	}

	// Listing goes page by page: more links than a page holds.
	var many []*store.Link
	for i := range store.MaxListLimit + 5 {
		many = append(many, &store.Link{Code: fmt.Sprintf("m%d", i), Destination: "https://example.com/m"})
	}
	if errs, err := c.CreateLinks(ctx, many, true); err != nil || errs[0] != nil {
		t.Fatalf("CreateLinks: %v", err)
	}
	n := 0
	err = c.ForEachLink(ctx, "", func(l *store.Link, raw json.RawMessage) error {
		n++
		if !bytes.Contains(raw, []byte(`"short_url":"https://go.example/`+l.Code+`"`)) {
			t.Fatalf("raw %s", raw)
		}
		return nil
	})
	if want := store.MaxListLimit + 5 + 3; err != nil || n != want {
		t.Fatalf("ForEachLink: %d links, %v; want %d", n, err, want)
	}
	var tagged []string
	c.ForEachLink(ctx, "t", func(l *store.Link, _ json.RawMessage) error { tagged = append(tagged, l.Code); return nil })
	if strings.Join(tagged, ",") != "b1,one" && strings.Join(tagged, ",") != "one,b1" {
		t.Errorf("tagged %v", tagged)
	}
	stop := errors.New("stop")
	if err := c.ForEachLink(ctx, "", func(*store.Link, json.RawMessage) error { return stop }); err != stop {
		t.Errorf("fn's error: %v", err)
	}
}

func TestKeys(t *testing.T) {
	c, db := mustStartAPI(t, nil)
	ctx := context.Background()
	secret, k, err := c.CreateKey(ctx, "ci", store.ScopeRead)
	if err != nil || secret == "" || k.ID == "" || k.Name != "ci" || k.Scope != store.ScopeRead {
		t.Fatalf("CreateKey: %q %+v %v", secret, k, err)
	}
	keys, err := c.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("ListKeys: %v %v", keys, err)
	}
	if err := c.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if stored, _ := db.ListKeys(ctx); len(stored) != 0 {
		t.Fatalf("not revoked: %+v", stored)
	}
	var ae *client.Error
	if err := c.RevokeKey(ctx, k.ID); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("revoked twice: %v", err)
	}
	// A revoked key is refused.
	cfg := client.DefaultConfig()
	cfg.URL, cfg.APIKey = c.URL(), secret
	_, err = client.New(cfg).ListKeys(ctx)
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a revoked key: %v", err)
	}
}

// TestRateLimitRetry: a 429 is waited out as its Retry-After says, as
// often as configured; then it is the answer.
func TestRateLimitRetry(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 1 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"status":429,"code":"rate_limited","detail":"slow down"}`)
			return
		}
		io.WriteString(w, `{"keys":[]}`)
	}))
	defer ts.Close()
	cfg := client.DefaultConfig()
	cfg.URL = ts.URL
	start := time.Now()
	if _, err := client.New(cfg).ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second || calls.Load() != 2 {
		t.Fatalf("%d calls in %v, want 2 after a second", calls.Load(), el)
	}
	cfg.RateLimitRetries = 0
	calls.Store(0)
	_, err := client.New(cfg).ListKeys(context.Background())
	if err == nil || err.Error() != "server answered 429 Too Many Requests: slow down" {
		t.Fatalf("without retries: %v", err)
	}
	// The wait ends with the context.
	cfg.RateLimitRetries = 10
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := client.New(cfg).ListKeys(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/keys":
			http.Error(w, "upstream down", http.StatusBadGateway)
		case "/api/v1/links/bulk":
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case "/api/v1/links":
			io.WriteString(w, `{"links":[{"code":1}]}`)
		case "/api/v1/backup":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
		}
	}))
	defer ts.Close()
	cfg := client.DefaultConfig()
	cfg.URL = ts.URL
	c := client.New(cfg)
	ctx := context.Background()
	var ae *client.Error
	if _, err := c.ListKeys(ctx); !errors.As(err, &ae) || err.Error() != "server answered 502 Bad Gateway" || string(ae.Body) != "upstream down\n" {
		t.Errorf("not JSON: %v", err)
	}
	if _, err := c.CreateLinks(ctx, []*store.Link{{Code: "a"}}, true); !errors.As(err, &ae) || ae.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("413: %v", err)
	}
	if err := c.ForEachLink(ctx, "", func(*store.Link, json.RawMessage) error { return nil }); err == nil || !strings.HasPrefix(err.Error(), "cannot decode a link: ") {
		t.Errorf("bad link: %v", err)
	}
	if err := c.Backup(ctx, io.Discard); err == nil || err.Error() != "the backup stream ended after 5 of 10 bytes" && !strings.HasPrefix(err.Error(), "the backup stream broke after 5 bytes") {
		t.Errorf("cut backup: %v", err)
	}
	// A URL no request can be made of: nothing is sent.
	cfg.URL = "http://a b"
	var ue *client.URLError
	if _, err := client.New(cfg).ListKeys(ctx); !errors.As(err, &ue) {
		t.Errorf("bad URL: %#v", err)
	}
	// Nothing listens: the error names the server.
	cfg.URL, cfg.Name = "http://127.0.0.1:1", ""
	if _, err := client.New(cfg).ListKeys(ctx); err == nil || !strings.HasPrefix(err.Error(), "cannot reach http://127.0.0.1:1: ") {
		t.Errorf("unreachable: %v", err)
	}
}

func TestEdgeTable(t *testing.T) {
	body := `{"code":"a","destination":"https://a/","tags":["x"],"version":3}` + "\n" + `{"code":"b","destination":"https://b/","version":4}` + "\n"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/links" || r.Header.Get("Authorization") != "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Qredge-Dataset", "ds1")
		w.Header().Set("Qredge-Links", r.URL.Query().Get("announce"))
		io.WriteString(w, body)
	}))
	defer ts.Close()
	cfg := client.DefaultConfig()
	cfg.URL = ts.URL
	e := client.NewEdgeTable(cfg)
	var got []string
	if err := e.ForEachLink(context.Background(), "", func(l *store.Link, _ json.RawMessage) error {
		got = append(got, fmt.Sprint(l.Code, l.Version))
		return nil
	}); err != nil || strings.Join(got, ",") != "a3,b4" || e.Dataset() != "ds1" {
		t.Fatalf("got %v, %v, dataset %q", got, err, e.Dataset())
	}
	got = nil
	e.ForEachLink(context.Background(), "x", func(l *store.Link, _ json.RawMessage) error { got = append(got, l.Code); return nil })
	if strings.Join(got, ",") != "a" {
		t.Errorf("tag x: %v", got)
	}
	body += `{"error":"the table changed"}` + "\n"
	if err := e.ForEachLink(context.Background(), "", func(*store.Link, json.RawMessage) error { return nil }); err == nil || err.Error() != "the edge stopped its export: the table changed" {
		t.Errorf("stopped export: %v", err)
	}
	cfg.URL = "http://127.0.0.1:1"
	err := client.NewEdgeTable(cfg).ForEachLink(context.Background(), "", nil)
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach the edge: ") {
		t.Errorf("unreachable: %v", err)
	}
}
