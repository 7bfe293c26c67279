package api

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/store"
)

// ERATELIMITED is the error code of a request over its key's rate limit, or
// from a client that sent too many bad keys (429 with Retry-After).
const ERATELIMITED = "rate_limited"

// BulkLinksPerToken is how many links of a bulk creation cost one token of
// the key's bucket, on top of the request's own token. The cost is charged
// when the links are handed to the store, and may take the bucket below
// zero (down to minus the burst): the key's next requests then wait.
const BulkLinksPerToken = 100

// maxTracked bounds the entries of the key buckets and of the bad-key table.
const maxTracked = 10000

// keyLimiter is a token bucket (rate.Limiter) per API key id, in memory. A
// bucket that has refilled to the burst is the same as a new one, so full
// buckets are dropped when the table is swept.
type keyLimiter struct {
	rate  float64 // tokens per second
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	return &keyLimiter{rate: perSecond, burst: burst, now: time.Now, buckets: map[string]*rate.Limiter{}}
}

// take takes n tokens from id's bucket. When there are fewer than n but
// debt is allowed, the bucket goes below zero, down to -burst (to within
// one token: rate.Limiter takes whole tokens). It returns how long to wait
// when the request is refused, and 0 when it may go on.
func (kl *keyLimiter) take(id string, n int, debt bool) time.Duration {
	if kl == nil {
		return 0
	}
	now := kl.now()
	kl.mu.Lock()
	defer kl.mu.Unlock()
	b := kl.buckets[id]
	if b == nil {
		if len(kl.buckets) >= maxTracked {
			kl.sweep(now)
		}
		b = rate.NewLimiter(rate.Limit(kl.rate), kl.burst)
		kl.buckets[id] = b
	}
	if b.AllowN(now, n) {
		return 0
	}
	tokens := b.TokensAt(now)
	if !debt {
		return time.Duration((float64(n) - tokens) / kl.rate * float64(time.Second))
	}
	// Reservations of at most the burst each (a larger one is refused),
	// never waited for: they take the bucket below zero.
	for owed := min(n, int(math.Floor(tokens))+kl.burst); owed > 0; owed -= kl.burst {
		b.ReserveN(now, min(owed, kl.burst))
	}
	return 0
}

// sweep drops full buckets; if none is, it drops arbitrary ones until the
// table is at three quarters of its bound. Called with mu held.
func (kl *keyLimiter) sweep(now time.Time) {
	for id, b := range kl.buckets {
		if b.TokensAt(now) >= float64(kl.burst) {
			delete(kl.buckets, id)
		}
	}
	for id := range kl.buckets {
		if len(kl.buckets) < maxTracked*3/4 {
			break
		}
		delete(kl.buckets, id)
	}
}

// badKeys counts unknown API keys per client IP. After limit failures
// within window, the client's authenticated requests are answered 429
// without looking at the key until the window ends. Nothing waits: no
// timer, goroutine or lock outlives the call.
type badKeys struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	n     int
	start time.Time // of the window
}

func newBadKeys(limit int, window time.Duration) *badKeys {
	return &badKeys{limit: limit, window: window, now: time.Now, clients: map[string]*failures{}}
}

// blocked returns how long ip must wait, or 0.
func (bk *badKeys) blocked(ip string) time.Duration {
	if bk == nil {
		return 0
	}
	now := bk.now()
	bk.mu.Lock()
	defer bk.mu.Unlock()
	f := bk.clients[ip]
	if f == nil {
		return 0
	}
	if end := f.start.Add(bk.window); !now.Before(end) {
		delete(bk.clients, ip)
		return 0
	} else if f.n >= bk.limit {
		return end.Sub(now)
	}
	return 0
}

// fail records an unknown key from ip.
func (bk *badKeys) fail(ip string) {
	if bk == nil {
		return
	}
	now := bk.now()
	bk.mu.Lock()
	defer bk.mu.Unlock()
	f := bk.clients[ip]
	if f != nil && !now.Before(f.start.Add(bk.window)) {
		f = nil
	}
	if f == nil {
		if len(bk.clients) >= maxTracked {
			bk.sweep(now)
		}
		f = &failures{start: now}
		bk.clients[ip] = f
	}
	f.n++
}

// sweep drops ended windows, then arbitrary entries down to three quarters
// of the bound. Called with mu held.
func (bk *badKeys) sweep(now time.Time) {
	for ip, f := range bk.clients {
		if !now.Before(f.start.Add(bk.window)) {
			delete(bk.clients, ip)
		}
	}
	for ip := range bk.clients {
		if len(bk.clients) < maxTracked*3/4 {
			break
		}
		delete(bk.clients, ip)
	}
}

// clientIP is the host of r.RemoteAddr: behind a proxy, the proxy's.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimited is the 429 error; retryAfter goes to the Retry-After header.
type rateLimited struct {
	err        *store.Error
	retryAfter time.Duration
}

func (e *rateLimited) Error() string { return e.err.Error() }
func (e *rateLimited) Unwrap() error { return e.err }

func errRateLimited(wait time.Duration, format string, args ...any) error {
	return &rateLimited{err: store.Errorf(ERATELIMITED, format, args...), retryAfter: wait}
}

// retryAfterSeconds is wait in whole seconds, rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) string {
	s := int64((wait + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// principal is the API key a request authenticated with. It never holds
// the key itself.
type principal struct {
	ID    string
	Name  string
	Scope string
}

// adminPrincipal is the --api-key admin key, one key for the limits and
// the audit.
var adminPrincipal = principal{ID: "api-key", Name: "--api-key", Scope: store.ScopeAdmin}

type principalKey struct{}

func withPrincipal(ctx context.Context, p *principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

func principalOf(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// setRetryAfter sets Retry-After when err is a rateLimited.
func setRetryAfter(w http.ResponseWriter, err error) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", retryAfterSeconds(rl.retryAfter))
	}
}

// newProtection fills the defaults of the limits in cfg and returns the
// key limiter and the bad-key table, each nil when turned off.
func newProtection(cfg *Config) (*keyLimiter, *badKeys) {
	def := DefaultConfig()
	if cfg.RateLimit == 0 {
		cfg.RateLimit = def.RateLimit
	}
	defaults.Positive(&cfg.RateBurst, def.RateBurst)
	if cfg.BadKeyLimit == 0 {
		cfg.BadKeyLimit = def.BadKeyLimit
	}
	defaults.Positive(&cfg.BadKeyWindow, def.BadKeyWindow)
	var kl *keyLimiter
	if cfg.RateLimit > 0 {
		kl = newKeyLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	var bk *badKeys
	if cfg.BadKeyLimit > 0 {
		bk = newBadKeys(cfg.BadKeyLimit, cfg.BadKeyWindow)
	}
	return kl, bk
}

// chargeBulk charges the key of ctx for n links of a bulk creation.
func (s *Server) chargeBulk(ctx context.Context, n int) {
	if p := principalOf(ctx); p != nil && n >= BulkLinksPerToken {
		s.limits.take(p.ID, n/BulkLinksPerToken, true)
	}
}

// guardedStore is the store as handlers see it: bulk creations are charged
// to the key's bucket and, with an audit log, changes are recorded
// (audit.go).
type guardedStore struct {
	Store
	srv   *Server
	audit store.AuditLog // nil for none
}

func (g *guardedStore) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]*store.Link, []error, error) {
	g.srv.chargeBulk(ctx, len(links))
	made, errs, err := g.Store.CreateLinks(ctx, links, atomic)
	var entries []store.AuditEntry
	for _, l := range made {
		if l != nil {
			entries = append(entries, store.AuditEntry{Action: store.AuditBulkCreate, Code: l.Code, Domain: l.Domain, After: l})
		}
	}
	g.record(ctx, entries...)
	return made, errs, err
}
