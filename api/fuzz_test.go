package api

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// FuzzWriteLink sends arbitrary bodies to create and patch: the API must
// answer with a documented client error or success, never 5xx, and
// whatever it stored must be a valid link.
func FuzzWriteLink(f *testing.F) {
	for _, s := range []string{
		`{"code":"x","destination":"https://example.com/"}`,
		`{"destination":"https://example.com/","rules":[{"when":{"country":["DE"]},"destination":"https://e.de/"}]}`,
		`{"destination":"https://e/","variants":[{"destination":"https://a/","weight":1},{"destination":"https://b/","weight":2}]}`,
		`{"schedule":{"not_before":"2026-01-01T00:00:00Z"},"destination":"https://e/"}`,
		`{"tags":null}`, `[]`, `{`, `null`, `{"status":1e99}`,
	} {
		f.Add(s, s)
	}
	db, err := boltstore.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	const key = "fuzz-admin-key-0123456789"
	cfg := DefaultConfig()
	cfg.AdminKeyHash = store.HashAPIKey(key)
	srv := NewServer(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	do := func(t *testing.T, method, path, body string) int {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 && w.Header().Get("Content-Type") != ProblemContentType {
			t.Fatalf("%s %s: error %d without problem+json", method, path, w.Code)
		}
		return w.Code
	}
	base := &store.Link{Code: "base", Destination: "https://example.com/"}
	if err := base.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, create, patch string) {
		do(t, "POST", "/api/v1/links", create)
		if _, err := db.GetLink(context.Background(), "", "base"); err != nil {
			if _, err := db.CreateLink(context.Background(), base); err != nil {
				t.Fatal(err)
			}
		}
		do(t, "PATCH", "/api/v1/links/base", patch)
		// Everything stored is still valid.
		err := db.ForEachLink(context.Background(), func(l *store.Link) error {
			c := l.Clone()
			if err := c.Validate(); err != nil {
				t.Fatalf("stored an invalid link %+v: %v", l, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
