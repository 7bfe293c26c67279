package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qredge/qredge/store"
)

// The console signs in with an API key once and then holds a session
// cookie instead: the key never reaches the browser's storage. A session
// is the hash of the key it was opened with (revoking the key ends it),
// a CSRF token every write must echo in X-CSRF-Token, and its expiry.
// Sessions live in this process's memory: a restart, or a request that
// reaches another 'qredge api' replica, signs the user out.
const (
	// SessionCookie is the name of the console's session cookie over http,
	// where it is sent to /api/ only; SecureSessionCookie its name with
	// --cookie-secure, where the __Host- prefix keeps a sibling subdomain
	// from planting one.
	SessionCookie       = "qredge_session"
	SecureSessionCookie = "__Host-qredge_session"
	// CSRFHeader is the header that carries a session's CSRF token.
	CSRFHeader = "X-CSRF-Token"
	// sessionIdle ends a session unused this long; sessionMax ends any.
	sessionIdle = 2 * time.Hour
	sessionMax  = 12 * time.Hour
	// maxSessions bounds the memory sessions take, and maxKeySessions
	// the sessions of one key; the oldest go first.
	maxSessions    = 10000
	maxKeySessions = 20
)

type session struct {
	keyHash          string
	csrf             string
	created, touched time.Time
}

// sessions are the console's open sessions, by the SHA-256 of their
// cookie's value (a leaked memory dump holds no usable cookie).
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}, now: time.Now} }

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionID(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(h[:])
}

// open starts a session for the key with hash keyHash and returns the
// cookie's value and the session. A key's oldest sessions end beyond
// maxKeySessions, and everyone's oldest beyond maxSessions.
func (ss *sessions) open(keyHash string) (string, *session) {
	cookie := randomToken()
	now := ss.now()
	s := &session{keyHash: keyHash, csrf: randomToken(), created: now, touched: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.m[sessionID(cookie)] = s
	var mine []string
	for id, o := range ss.m {
		if o.keyHash == keyHash {
			mine = append(mine, id)
		}
	}
	ss.dropOldestLocked(mine, len(mine)-maxKeySessions)
	if len(ss.m) > maxSessions {
		for id, o := range ss.m {
			if o.expired(now) {
				delete(ss.m, id)
			}
		}
		all := make([]string, 0, len(ss.m))
		for id := range ss.m {
			all = append(all, id)
		}
		ss.dropOldestLocked(all, len(ss.m)-maxSessions*9/10)
	}
	return cookie, s
}

// dropOldestLocked ends the n oldest sessions of ids.
func (ss *sessions) dropOldestLocked(ids []string, n int) {
	if n <= 0 {
		return
	}
	slices.SortFunc(ids, func(a, b string) int { return ss.m[a].created.Compare(ss.m[b].created) })
	for _, id := range ids[:n] {
		delete(ss.m, id)
	}
}

// get returns the live session of cookie, or nil, and marks it used.
func (ss *sessions) get(cookie string) *session {
	now := ss.now()
	id := sessionID(cookie)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if s.expired(now) {
		delete(ss.m, id)
		return nil
	}
	s.touched = now
	return s
}

// close ends the session of cookie, if any.
func (ss *sessions) close(cookie string) {
	ss.mu.Lock()
	delete(ss.m, sessionID(cookie))
	ss.mu.Unlock()
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.touched) >= sessionIdle || now.Sub(s.created) >= sessionMax
}

func (s *session) expires() time.Time {
	idle, max := s.touched.Add(sessionIdle), s.created.Add(sessionMax)
	if idle.Before(max) {
		return idle
	}
	return max
}

// sessionAuth returns the key hash of r's session, checking the CSRF
// token of a write; ok is false when r carries no session cookie.
func (s *Server) sessionAuth(r *http.Request) (keyHash string, ok bool, err error) {
	cookie := s.cookieOf(r)
	if cookie == "" {
		return "", false, nil
	}
	sess := s.sessions.get(cookie)
	if sess == nil {
		return "", true, store.Errorf(store.EUNAUTHORIZED, "the console session has ended: sign in again")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if err := sess.checkCSRF(r); err != nil {
			return "", true, err
		}
	}
	return sess.keyHash, true, nil
}

// checkCSRF refuses a write of the session that does not carry its token.
func (s *session) checkCSRF(r *http.Request) error {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(s.csrf)) != 1 {
		return store.Errorf(store.EFORBIDDEN, "this write carries no valid %s header: reload the console", CSRFHeader)
	}
	return nil
}

func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: SessionCookie, Value: value, Path: "/api/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if s.cfg.CookieSecure {
		c.Name, c.Path, c.Secure = SecureSessionCookie, "/", true
	}
	return c
}

// cookieOf returns the value of r's session cookie, "" when none.
func (s *Server) cookieOf(r *http.Request) string {
	c, err := r.Cookie(s.sessionCookie("", 0).Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// sameOrigin refuses a sign-in another site's page sends: the browser
// says so in Sec-Fetch-Site, or an Origin names another host.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return store.Errorf(store.EFORBIDDEN, "sign in from the console's own page")
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
			return store.Errorf(store.EFORBIDDEN, "sign in from the console's own page")
		}
	}
	return nil
}

// sessionInfo is the answer of the session routes.
type sessionInfo struct {
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	Key       keyInfo   `json:"key"`
}

type keyInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Scope string `json:"scope"`
}

// createSession is POST /api/v1/session: {"api_key": "..."} for a session
// cookie. A key that is unknown counts against the same lockout as a bad
// Bearer key; any session the browser held before is ended (the cookie is
// new at every sign-in).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		APIKey string `json:"api_key"`
	}
	if err := sameOrigin(r); err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return store.Errorf(EUNSUPPORTED, "send the sign-in as application/json")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if in.APIKey == "" {
		return store.Errorf(store.EINVALID, "api_key is required")
	}
	ip := clientIP(r)
	if wait := s.bad.blocked(ip); wait > 0 {
		return errRateLimited(wait, "too many unknown API keys from this address; retry later")
	}
	hash := store.HashAPIKey(in.APIKey)
	p, err := s.principalOfKey(r, hash, true)
	if err != nil {
		return err
	}
	if wait := s.limits.take(p.ID, 1, false); wait > 0 {
		return errRateLimited(wait, "this API key is over its rate limit of %g requests per second (burst %d)", s.cfg.RateLimit, s.cfg.RateBurst)
	}
	if old := s.cookieOf(r); old != "" {
		s.sessions.close(old)
	}
	cookie, sess := s.sessions.open(hash)
	http.SetCookie(w, s.sessionCookie(cookie, int(sessionMax/time.Second)))
	return writeJSON(w, http.StatusCreated, sessionInfo{CSRFToken: sess.csrf, ExpiresAt: sess.expires().UTC(), Key: keyInfo{p.ID, p.Name, p.Scope}})
}

// getSession is GET /api/v1/session: who is signed in, and the CSRF token
// (for a console page that was reloaded).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	var sess *session
	if c := s.cookieOf(r); c != "" {
		sess = s.sessions.get(c)
	}
	if sess == nil || r.Header.Get("Authorization") != "" {
		return store.Errorf(store.ENOTFOUND, "this request is signed with an API key, not a console session")
	}
	p := principalOf(r.Context())
	return writeJSON(w, http.StatusOK, sessionInfo{CSRFToken: sess.csrf, ExpiresAt: sess.expires().UTC(), Key: keyInfo{p.ID, p.Name, p.Scope}})
}

// deleteSession is DELETE /api/v1/session: sign out, on the server. It
// needs no key: a session that has ended, or whose key was revoked, still
// gets its cookie cleared; a live one needs its CSRF token.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	if c := s.cookieOf(r); c != "" {
		if sess := s.sessions.get(c); sess != nil {
			if err := sess.checkCSRF(r); err != nil {
				return err
			}
		}
		s.sessions.close(c)
	}
	http.SetCookie(w, s.sessionCookie("", -1))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
