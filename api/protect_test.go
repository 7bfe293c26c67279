package api

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/store"
)

func TestBadKeyLockout(t *testing.T) {
	e, clk := mustStartProtected(t, nil, func(c *Config) { c.BadKeyLimit, c.BadKeyWindow = 3, time.Minute })
	// No key at all is not a guess: it does not count.
	for i := 0; i < 5; i++ {
		e.call("GET", "/api/v1/links", "", "", nil, 401, nil)
	}
	for i := 0; i < 3; i++ {
		e.call("GET", "/api/v1/links", "qk_guess_"+strings.Repeat("x", i+1), "", nil, 401, nil)
		clk.Advance(10 * time.Second)
	}
	// Locked out for the rest of the window (30 s), good key or not: the
	// key is not even looked up, so answers tell nothing about it.
	r := e.call("GET", "/api/v1/links", "qk_guess_again", "", nil, 429, nil)
	if p := r.problem(t); p.Code != ERATELIMITED {
		t.Fatalf("problem %+v", p)
	}
	if ra := r.header.Get("Retry-After"); ra != "30" {
		t.Fatalf("Retry-After %q, want 30", ra)
	}
	e.call("GET", "/api/v1/links", e.read, "", nil, 429, nil)
	clk.Advance(29 * time.Second)
	if ra := e.call("GET", "/api/v1/links", e.read, "", nil, 429, nil).header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	clk.Advance(time.Second)
	e.call("GET", "/api/v1/links", e.read, "", nil, 200, nil)
	e.call("GET", "/api/v1/links", "qk_guess_new_window", "", nil, 401, nil)
}

func TestBadKeyLockoutOff(t *testing.T) {
	e, _ := mustStartProtected(t, nil, func(c *Config) { c.BadKeyLimit = -1 })
	for i := 0; i < 20; i++ {
		e.call("GET", "/api/v1/links", "qk_guess", "", nil, 401, nil)
	}
	e.call("GET", "/api/v1/links", e.read, "", nil, 200, nil)
}

// TestScopesOnEveryRoute walks every route: without a key each answers 401;
// a read key gets 403 on every write and admin route and is let through
// (2xx or a 4xx about the request, never 401/403) on every read route; a
// write key gets 403 on every admin route.
func TestScopesOnEveryRoute(t *testing.T) {
	e, _ := mustStartProtected(t, nil, nil)
	e.call("POST", "/api/v1/links", e.write, `{"code":"x","destination":"https://example.com/"}`, nil, 201, nil)
	status := func(method, path, key string) int {
		t.Helper()
		req, err := http.NewRequest(method, e.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	routes := allRoutesServer().Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Scope] = true
		path := routePath(rt.Pattern)
		if rt.Scope == "" {
			want := 200
			switch {
			case rt.Method == "POST" && rt.Pattern == "/api/v1/session":
				want = 415 // the sign-in, sent here without its JSON body
			case rt.Method == "DELETE" && rt.Pattern == "/api/v1/session":
				want = 204 // a sign-out with no session to end
			}
			if got := status(rt.Method, path, ""); got != want {
				t.Errorf("public %s %s: %d, want %d", rt.Method, rt.Pattern, got, want)
			}
			continue
		}
		if !store.ValidScope(rt.Scope) {
			t.Errorf("%s %s has scope %q", rt.Method, rt.Pattern, rt.Scope)
		}
		if got := status(rt.Method, path, ""); got != 401 {
			t.Errorf("%s %s without a key: %d, want 401", rt.Method, rt.Pattern, got)
		}
		for _, k := range []struct{ scope, key string }{{store.ScopeRead, e.read}, {store.ScopeWrite, e.write}} {
			got := status(rt.Method, path, k.key)
			if store.ScopeAllows(k.scope, rt.Scope) {
				if got == 401 || got == 403 || got >= 500 {
					t.Errorf("%s %s with a %s key: %d, want it let through", rt.Method, rt.Pattern, k.scope, got)
				}
			} else if got != 403 {
				t.Errorf("%s %s with a %s key: %d, want 403", rt.Method, rt.Pattern, k.scope, got)
			}
		}
	}
	if !seen[store.ScopeRead] || !seen[store.ScopeWrite] || !seen[store.ScopeAdmin] {
		t.Fatalf("scopes seen %v", seen)
	}
}

func TestSecretsNotLogged(t *testing.T) {
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, clk := mustStartProtected(t, log, func(c *Config) { c.BadKeyLimit = 2 })
	bad := "qk_this_is_a_wrong_secret_0123456789"
	for i := 0; i < 3; i++ { // the last one is locked out
		e.call("GET", "/api/v1/links", bad, "", nil, []int{401, 401, 429}[i], nil)
	}
	e.call("GET", "/api/v1/links", "", "", nil, 401, nil)
	e.call("GET", "/api/v1/links", e.write, "", map[string]string{"Authorization": "Basic " + bad}, 401, nil)
	clk.Advance(time.Minute)
	var ck struct{ Key string }
	e.call("POST", "/api/v1/keys", e.admin, `{"name":"logged?","scope":"write"}`, nil, 201, &ck)
	e.call("POST", "/api/v1/links", ck.Key, `{"code":"l","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("DELETE", "/api/v1/links/l", ck.Key, "", nil, 204, nil)
	out := logs.String()
	for _, secret := range []string{bad, ck.Key, e.admin, e.read, e.write, store.HashAPIKey(ck.Key), store.HashAPIKey(e.admin)} {
		if secret == "" || strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%q):\n%s", secret, out)
		}
	}
}
