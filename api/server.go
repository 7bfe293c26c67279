package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/store"
)

// Config configures the API. Get defaults from DefaultConfig.
type Config struct {
	// PublicURL is the scheme and host of short links, such as
	// "https://go.example.com"; short_url is PublicURL + "/" + code.
	PublicURL string
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64
	// MaxBulkBodyBytes limits the body of POST /api/v1/links/bulk, which
	// holds up to store.MaxBulkLinks links.
	MaxBulkBodyBytes int64
	// AdminKey, when set, is a key that has the admin scope without being
	// stored (the --api-key flag); NewServer keeps only its hash, as
	// AdminKeyHash.
	AdminKey string
	// AdminKeyHash, when set, is the store.HashAPIKey of a key that has the
	// admin scope without being stored (the --api-key flag).
	AdminKeyHash string
	// Resolver evaluates links for GET /api/v1/links/{code}/resolve; the
	// route exists only when it is set.
	Resolver Resolver
	// Stats reads scan aggregates for GET /api/v1/links/{code}/stats and
	// GET /api/v1/stats/top; the routes exist only when it is set.
	Stats store.StatsReader
	// Brake, when set, adds POST /api/v1/analytics/pause and /resume
	// (admin scope): the embedded mode's emergency brake.
	Brake Brake
	// Policy, when set, refuses link writes whose destinations it denies
	// (after Validate) and is what GET /api/v1/policy/violations checks
	// the stored links against.
	Policy *store.DestinationPolicy
	// Backup, when set, serves POST /api/v1/backup (admin scope): the
	// embedded mode's online backup, written by the handler itself.
	Backup http.HandlerFunc
	// Observe, when set, is called after every request with the route
	// pattern that served it ("" when none matched) and the status.
	Observe func(method, pattern string, status int, elapsed time.Duration)
	// RateLimit and RateBurst are the token bucket of each API key
	// (requests per second, and how many may come at once); over it, 429.
	// Zero means the default; a negative RateLimit turns limits off.
	RateLimit float64
	RateBurst int
	// BadKeyLimit unknown keys from one client IP within BadKeyWindow get
	// that client 429 on authenticated routes until the window ends. Zero
	// means the default; negative turns it off.
	BadKeyLimit  int
	BadKeyWindow time.Duration
	// CookieSecure marks the console's session cookie Secure
	// (--cookie-secure: the console is served over https).
	CookieSecure bool
	// UI serves the web console at /ui/ (--ui).
	UI bool
	// Audit records every link change made through the API and serves
	// GET /api/v1/audit; when nil, the store's own, if it has one.
	Audit store.AuditLog
	// Webhooks and Deliveries serve the /api/v1/webhooks routes (admin
	// scope); when either is nil the routes answer 404.
	Webhooks   store.WebhookStore
	Deliveries store.DeliveryStore
	// WebhookAllowPrivate lets webhooks reach loopback, private and
	// link-local addresses (--webhook-allow-private).
	WebhookAllowPrivate bool
	// OnWebhookChange, when set, is called after every successful webhook
	// write through the API, so that a running deliverer reloads.
	OnWebhookChange func()
}

// DefaultConfig returns the default API configuration.
func DefaultConfig() Config {
	return Config{PublicURL: "http://localhost:8080", MaxBodyBytes: 1 << 20, MaxBulkBodyBytes: 32 << 20,
		RateLimit: 50, RateBurst: 100, BadKeyLimit: 5, BadKeyWindow: time.Minute, UI: true}
}

// Store is what the API needs from a store backend.
type Store interface {
	store.LinkStore
	store.KeyStore
	store.BulkCreator
}

// Route is one route of the API, as documented in openapi.json.
type Route struct {
	Method  string
	Pattern string
	Scope   string // "" for public routes
}

// Server is the API's http.Handler.
type Server struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []Route
	limits   *keyLimiter  // nil when off
	bad      *badKeys     // nil when off
	sessions *sessions    // the console's
	console  http.Handler // nil when --ui=false
	doc      []byte       // the OpenAPI document served, with PublicURL as its server
	// webhookResolver looks webhook hosts up for the address policy, for
	// at most webhookLookup.
	webhookResolver store.Resolver
	webhookLookup   time.Duration
}

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return openAPI }

// NewServer returns the API over st.
func NewServer(cfg Config, st Store, log *slog.Logger) *Server {
	defaults.Positive(&cfg.MaxBodyBytes, DefaultConfig().MaxBodyBytes)
	defaults.Positive(&cfg.MaxBulkBodyBytes, DefaultConfig().MaxBulkBodyBytes)
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.AdminKey != "" {
		cfg.AdminKeyHash, cfg.AdminKey = store.HashAPIKey(cfg.AdminKey), ""
	}
	if cfg.Audit == nil {
		cfg.Audit, _ = st.(store.AuditLog)
	}
	s := &Server{cfg: cfg, store: st, log: log, mux: http.NewServeMux(), doc: withServer(openAPI, cfg.PublicURL), sessions: newSessions(),
		webhookResolver: net.DefaultResolver, webhookLookup: webhookLookupTimeout}
	s.limits, s.bad = newProtection(&s.cfg)
	if cfg.UI {
		s.console = consoleHandler()
	}
	s.store = &guardedStore{Store: st, srv: s, audit: cfg.Audit}
	s.handle("GET", "/api/v1/openapi.json", "", s.getOpenAPI)
	s.handle("POST", "/api/v1/session", "", s.createSession)
	s.handle("GET", "/api/v1/session", store.ScopeRead, s.getSession)
	s.handle("DELETE", "/api/v1/session", "", s.deleteSession)
	s.handle("POST", "/api/v1/links", store.ScopeWrite, s.createLink)
	s.handleLimit("POST", "/api/v1/links/bulk", store.ScopeWrite, cfg.MaxBulkBodyBytes, s.bulkCreate)
	s.handle("GET", "/api/v1/links", store.ScopeRead, s.listLinks)
	s.handle("GET", "/api/v1/links/{code}", store.ScopeRead, s.getLink)
	s.handle("GET", "/api/v1/links/{code}/qr", store.ScopeRead, s.linkQR)
	s.handle("PATCH", "/api/v1/links/{code}", store.ScopeWrite, s.patchLink)
	s.handle("DELETE", "/api/v1/links/{code}", store.ScopeWrite, s.deleteLink)
	if cfg.Resolver != nil {
		s.handle("GET", "/api/v1/links/{code}/resolve", store.ScopeRead, s.resolveLink)
	}
	if cfg.Stats != nil {
		s.handle("GET", "/api/v1/links/{code}/stats", store.ScopeRead, s.linkStats)
		s.handle("GET", "/api/v1/stats/top", store.ScopeRead, s.topStats)
		s.handle("GET", "/api/v1/stats/tags/{tag}", store.ScopeRead, s.tagStats)
	}
	if cfg.Brake != nil {
		s.handle("POST", "/api/v1/analytics/pause", store.ScopeAdmin, s.pauseAnalytics)
		s.handle("POST", "/api/v1/analytics/resume", store.ScopeAdmin, s.resumeAnalytics)
	}
	if cfg.Backup != nil {
		s.handle("POST", "/api/v1/backup", store.ScopeAdmin, func(w http.ResponseWriter, r *http.Request) error {
			cfg.Backup(w, r)
			return nil
		})
	}
	s.handle("GET", "/api/v1/policy/violations", store.ScopeAdmin, s.policyViolations)
	s.handle("GET", "/api/v1/audit", store.ScopeAdmin, s.listAudit)
	s.handle("POST", "/api/v1/keys", store.ScopeAdmin, s.createKey)
	s.handle("GET", "/api/v1/keys", store.ScopeAdmin, s.listKeys)
	s.handle("DELETE", "/api/v1/keys/{id}", store.ScopeAdmin, s.revokeKey)
	s.handle("POST", "/api/v1/webhooks", store.ScopeAdmin, s.webhooksOnly(s.createWebhook))
	s.handle("GET", "/api/v1/webhooks", store.ScopeAdmin, s.webhooksOnly(s.listWebhooks))
	s.handle("GET", "/api/v1/webhooks/{id}", store.ScopeAdmin, s.webhooksOnly(s.getWebhook))
	s.handle("PATCH", "/api/v1/webhooks/{id}", store.ScopeAdmin, s.webhooksOnly(s.patchWebhook))
	s.handle("DELETE", "/api/v1/webhooks/{id}", store.ScopeAdmin, s.webhooksOnly(s.deleteWebhook))
	s.handle("GET", "/api/v1/webhooks/{id}/dead-letters", store.ScopeAdmin, s.webhooksOnly(s.listDeadLetters))
	s.handle("POST", "/api/v1/webhooks/{id}/dead-letters/{dlid}/redeliver", store.ScopeAdmin, s.webhooksOnly(s.redeliverDeadLetter))
	s.handle("DELETE", "/api/v1/webhooks/{id}/dead-letters/{dlid}", store.ScopeAdmin, s.webhooksOnly(s.discardDeadLetter))
	s.handle("GET", "/api/v1/webhooks/{id}/attempts", store.ScopeAdmin, s.webhooksOnly(s.listAttempts))
	return s
}

// Routes returns every route the server answers.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(method, pattern, scope string, h handlerFunc) {
	s.handleLimit(method, pattern, scope, s.cfg.MaxBodyBytes, h)
}

// handleLimit is handle with its own limit on the body's size.
func (s *Server) handleLimit(method, pattern, scope string, maxBody int64, h handlerFunc) {
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Scope: scope})
	s.mux.HandleFunc(method+" "+pattern, func(w http.ResponseWriter, r *http.Request) {
		if scope != "" {
			p, err := s.authorize(r, scope)
			if err != nil {
				setRetryAfter(w, err)
				s.writeError(w, r, err)
				return
			}
			r = r.WithContext(withPrincipal(r.Context(), p))
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler. Requests the mux cannot route get a
// problem+json 404 or 405 instead of the mux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.console != nil && IsConsolePath(r.URL.Path) {
		s.console.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		rec := &statusWriter{ResponseWriter: discardWriter{h: http.Header{}}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			sw.Header().Set("Allow", rec.Header().Get("Allow"))
			WriteProblem(sw, NewProblem(store.Errorf("method_not_allowed", "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.Header().Get("Allow"))))
		} else {
			WriteProblem(sw, NewProblem(store.Errorf(store.ENOTFOUND, "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path)))
		}
	} else {
		// Methods are part of the pattern, as in "GET /api/v1/links".
		s.mux.ServeHTTP(sw, r)
		if i := strings.IndexByte(pattern, ' '); i >= 0 {
			pattern = pattern[i+1:]
		}
	}
	if s.cfg.Observe != nil {
		// Clone: behind fasthttpadaptor, r.Method points into a buffer that
		// is reused after the request, and observers may keep the string
		// (Prometheus keeps label values).
		s.cfg.Observe(strings.Clone(r.Method), pattern, sw.Status(), time.Since(start))
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath, to
// flush a streamed answer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// authorize checks the bearer key of r (or the console's session cookie,
// with its CSRF token on writes) against the needed scope and the key's
// rate limit, and returns who sent it. Keys are compared only as SHA-256
// hashes: the --api-key one in constant time, stored ones by a lookup of
// the hash (which leaks nothing about the key). The key is never logged.
func (s *Server) authorize(r *http.Request, need string) (*principal, error) {
	var hash string
	auth := r.Header.Get("Authorization")
	if auth == "" {
		h, ok, err := s.sessionAuth(r)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, store.Errorf(store.EUNAUTHORIZED, "missing API key: send it as Authorization: Bearer <key>")
		}
		hash = h
	} else {
		scheme, key, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			return nil, store.Errorf(store.EUNAUTHORIZED, "the Authorization header must be Bearer <key>")
		}
		if wait := s.bad.blocked(clientIP(r)); wait > 0 {
			return nil, errRateLimited(wait, "too many unknown API keys from this address; retry later")
		}
		hash = store.HashAPIKey(strings.TrimSpace(key))
	}
	p, err := s.principalOfKey(r, hash, auth != "")
	if err != nil {
		return nil, err
	}
	if wait := s.limits.take(p.ID, 1, false); wait > 0 {
		return nil, errRateLimited(wait, "this API key is over its rate limit of %g requests per second (burst %d)", s.cfg.RateLimit, s.cfg.RateBurst)
	}
	if !store.ScopeAllows(p.Scope, need) {
		return nil, store.Errorf(store.EFORBIDDEN, "this API key has the %s scope; this request needs %s", p.Scope, need)
	}
	return p, nil
}

// principalOfKey returns the key whose hash is hash. An unknown key sent
// by the client (sent) counts against its address (the bad-key lockout);
// a session's revoked key ends the session.
func (s *Server) principalOfKey(r *http.Request, hash string, sent bool) (*principal, error) {
	if s.cfg.AdminKeyHash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(s.cfg.AdminKeyHash)) == 1 {
		return &adminPrincipal, nil
	}
	k, err := s.store.KeyByHash(r.Context(), hash)
	if store.ErrorCode(err) == store.ENOTFOUND {
		if !sent {
			return nil, store.Errorf(store.EUNAUTHORIZED, "the API key of this console session was revoked: sign in again")
		}
		s.bad.fail(clientIP(r))
		return nil, store.Errorf(store.EUNAUTHORIZED, "unknown or revoked API key")
	}
	if err != nil {
		return nil, err
	}
	return &principal{ID: k.ID, Name: k.Name, Scope: k.Scope}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *Server) getOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(s.doc)
	return err
}

// withServer returns the OpenAPI document doc with publicURL as its only
// server (the embedded document names http://localhost:8080), its members
// in their order. An empty publicURL leaves doc as it is.
func withServer(doc []byte, publicURL string) []byte {
	if publicURL == "" {
		return doc
	}
	servers, err := json.Marshal([]map[string]string{{"url": publicURL}})
	if err != nil {
		panic("BUG: " + err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		panic("BUG: openapi.json is not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	member := func(key string, v []byte) {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(v)
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic("BUG: openapi.json: " + err.Error())
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic("BUG: openapi.json: " + err.Error())
		}
		key, _ := tok.(string)
		if key == "servers" {
			v, found = servers, true
		}
		member(key, v)
	}
	if !found {
		member("servers", servers)
	}
	out.WriteByte('}')
	var indented bytes.Buffer
	if err := json.Indent(&indented, out.Bytes(), "", "  "); err != nil {
		panic("BUG: openapi.json: " + err.Error())
	}
	indented.WriteByte('\n')
	return indented.Bytes()
}

// EnsureAdminKey creates an admin key if the store holds none and no admin
// key is configured, and returns its secret ("" if none was created). It is
// how a first start prints a key.
func EnsureAdminKey(ctx context.Context, ks store.KeyStore, configured bool) (string, error) {
	if configured {
		return "", nil
	}
	keys, err := ks.ListKeys(ctx)
	if err != nil {
		return "", err
	}
	if len(keys) > 0 {
		return "", nil
	}
	secret, _, err := store.CreateAPIKey(ctx, ks, "bootstrap", store.ScopeAdmin)
	return secret, err
}
