package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// signIn opens a console session with key and returns its cookie and
// CSRF token.
func (e *env) signIn(key string, hdr map[string]string) (cookie, csrf string) {
	e.t.Helper()
	var info sessionInfo
	r := e.call("POST", "/api/v1/session", "", `{"api_key":"`+key+`"}`, hdr, 201, &info)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == SessionCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/" || c.Secure {
				e.t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/api/, not Secure", c)
			}
			return SessionCookie + "=" + c.Value, info.CSRFToken
		}
	}
	e.t.Fatalf("sign-in set no %s cookie: %v", SessionCookie, r.header)
	return "", ""
}

// TestConsoleSession: a session acts as its key (scopes included), every
// write needs its CSRF token, signing in again rotates the cookie, and
// signing out ends the session on the server.
func TestConsoleSession(t *testing.T) {
	e := mustStartAPI(t)
	cookie, csrf := e.signIn(e.write, nil)
	if len(csrf) < 40 {
		t.Fatalf("CSRF token %q is too short", csrf)
	}
	with := func(cookie, csrf string) map[string]string {
		h := map[string]string{"Cookie": cookie}
		if csrf != "" {
			h[CSRFHeader] = csrf
		}
		return h
	}
	e.call("GET", "/api/v1/links", "", "", with(cookie, ""), 200, nil)
	link := `{"code":"console","destination":"https://example.com/"}`
	if p := e.call("POST", "/api/v1/links", "", link, with(cookie, ""), 403, nil).problem(t); !strings.Contains(p.Detail, CSRFHeader) {
		t.Fatalf("a write without the CSRF token: %+v", p)
	}
	e.call("POST", "/api/v1/links", "", link, with(cookie, "wrong"), 403, nil)
	e.call("POST", "/api/v1/links", "", link, with(cookie, csrf), 201, nil)
	var info sessionInfo
	e.call("GET", "/api/v1/session", "", "", with(cookie, ""), 200, &info)
	if info.CSRFToken != csrf || info.Key.Name != "writer" || info.Key.Scope != "write" || info.ExpiresAt.IsZero() {
		t.Fatalf("session %+v", info)
	}
	// A key sent as Bearer has no session to show.
	e.call("GET", "/api/v1/session", e.write, "", nil, 404, nil)

	// Signing in again from the same browser ends the old session.
	cookie2, csrf2 := e.signIn(e.write, with(cookie, ""))
	if cookie2 == cookie || csrf2 == csrf {
		t.Fatal("signing in again kept the cookie or the CSRF token")
	}
	e.call("GET", "/api/v1/links", "", "", with(cookie, ""), 401, nil)
	e.call("DELETE", "/api/v1/session", "", "", with(cookie2, ""), 403, nil)
	r := e.call("DELETE", "/api/v1/session", "", "", with(cookie2, csrf2), 204, nil)
	if sc := r.header.Get("Set-Cookie"); !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("sign-out Set-Cookie %q does not expire the cookie", sc)
	}
	if p := e.call("GET", "/api/v1/links", "", "", with(cookie2, ""), 401, nil).problem(t); !strings.Contains(p.Detail, "sign in again") {
		t.Fatalf("after sign-out: %+v", p)
	}
	e.call("GET", "/api/v1/session", "", "", nil, 401, nil)
	// Signing out needs no key: an ended session's cookie is cleared too.
	e.call("DELETE", "/api/v1/session", "", "", with(cookie2, ""), 204, nil)
	e.call("DELETE", "/api/v1/session", "", "", nil, 204, nil)

	// A read key's session changes nothing.
	rc, rcsrf := e.signIn(e.read, nil)
	e.call("GET", "/api/v1/links/console", "", "", with(rc, ""), 200, nil)
	e.call("DELETE", "/api/v1/links/console", "", "", with(rc, rcsrf), 403, nil)

	// Revoking the key ends its sessions.
	var keys struct {
		Keys []struct{ ID, Name string } `json:"keys"`
	}
	e.call("GET", "/api/v1/keys", e.admin, "", nil, 200, &keys)
	for _, k := range keys.Keys {
		if k.Name == "reader" {
			e.call("DELETE", "/api/v1/keys/"+k.ID, e.admin, "", nil, 204, nil)
		}
	}
	if p := e.call("GET", "/api/v1/links", "", "", with(rc, ""), 401, nil).problem(t); !strings.Contains(p.Detail, "revoked") {
		t.Fatalf("a revoked key's session: %+v", p)
	}
}

// TestConsoleSignInErrors: bad bodies are 400 and 422; unknown keys are
// 401 and count against the bad-key lockout, as Bearer keys do.
func TestConsoleSignInErrors(t *testing.T) {
	e, _ := mustStartProtected(t, nil, func(c *Config) { c.BadKeyLimit = 2 })
	e.call("POST", "/api/v1/session", "", `{"api_key":`, nil, 400, nil)
	e.call("POST", "/api/v1/session", "", `{"key":"x"}`, nil, 400, nil)
	e.call("POST", "/api/v1/session", "", `{}`, nil, 422, nil)
	e.call("POST", "/api/v1/session", "", `{"api_key":"qk_guess_1"}`, nil, 401, nil)
	e.call("POST", "/api/v1/session", "", `{"api_key":"qk_guess_2"}`, nil, 401, nil)
	e.call("POST", "/api/v1/session", "", `{"api_key":"`+e.read+`"}`, nil, 429, nil)
	e.call("GET", "/api/v1/links", e.read, "", nil, 429, nil)
}

// TestConsoleCookieSecure: --cookie-secure makes the session cookie a
// Secure __Host- cookie, and that is the cookie read.
func TestConsoleCookieSecure(t *testing.T) {
	e := startAPI(t, apiOptions{edit: func(c *Config) { c.CookieSecure = true }})
	r := e.call("POST", "/api/v1/session", "", `{"api_key":"`+e.read+`"}`, nil, 201, nil)
	sc := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, SecureSessionCookie+"=") || !strings.Contains(sc, "; Path=/;") || !strings.Contains(sc, "; Secure") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	value := strings.SplitN(strings.SplitN(sc, ";", 2)[0], "=", 2)[1]
	e.call("GET", "/api/v1/links", "", "", map[string]string{"Cookie": SecureSessionCookie + "=" + value}, 200, nil)
	e.call("GET", "/api/v1/links", "", "", map[string]string{"Cookie": SessionCookie + "=" + value}, 401, nil)
}

// TestConsoleSignInGuards: a sign-in from another site, or not as JSON,
// is refused; sign-ins count against the key's rate limit; a key keeps at
// most maxKeySessions sessions, its oldest ending first.
func TestConsoleSignInGuards(t *testing.T) {
	e, _ := mustStartProtected(t, nil, func(c *Config) { c.RateLimit, c.RateBurst = 1, 3 })
	body := `{"api_key":"` + e.read + `"}`
	e.call("POST", "/api/v1/session", "", body, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, nil)
	e.call("POST", "/api/v1/session", "", body, map[string]string{"Origin": "https://evil.example"}, 403, nil)
	e.call("POST", "/api/v1/session", "", body, map[string]string{"Content-Type": "text/plain"}, 415, nil)
	e.call("POST", "/api/v1/session", "", body, map[string]string{"Origin": e.url, "Sec-Fetch-Site": "same-origin"}, 201, nil)
	e.call("POST", "/api/v1/session", "", body, nil, 201, nil)
	e.call("POST", "/api/v1/session", "", body, nil, 201, nil)
	e.call("POST", "/api/v1/session", "", body, nil, 429, nil)

	ss := newSessions()
	now := time.Unix(1e9, 0)
	ss.now = func() time.Time { now = now.Add(time.Second); return now }
	var first string
	for i := range maxKeySessions + 1 {
		c, _ := ss.open("k")
		if i == 0 {
			first = c
		}
	}
	ss.open("other")
	if ss.get(first) != nil || len(ss.m) != maxKeySessions+1 {
		t.Fatalf("after %d sign-ins of one key: %d sessions, the first still open: %v", maxKeySessions+1, len(ss.m), ss.get(first) != nil)
	}
}
