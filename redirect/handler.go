package redirect

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/store"
)

// Config configures the redirect handler. Get defaults from DefaultConfig.
type Config struct {
	// NotFoundURL, when set, is where unknown codes are redirected (302)
	// instead of getting the 404 page.
	NotFoundURL string
	// GoneURL, when set, is where disabled links redirect (302) instead of
	// answering 410.
	GoneURL string
	// PermanentMaxAge is the max-age of 301 and 308 responses. Browsers
	// keep permanent redirects, so it should not be long.
	PermanentMaxAge time.Duration
	// TemporaryMaxAge, when positive, lets browsers and CDNs cache 302 and
	// 307 responses that long. By default they are not cached, so every
	// scan reaches qredge and is counted.
	TemporaryMaxAge time.Duration
	// CountryHeader names a header set by a trusted CDN or ingress with the
	// visitor's ISO country code (such as CF-IPCountry). Off by default:
	// any client can send any header.
	CountryHeader string
	// Countries, when set, maps client IPs to countries (a GeoIP
	// database). The country header wins when both give an answer.
	Countries CountryLookup
	// ClientIPHeader names a header set by a trusted proxy with the client
	// IP (its last comma-separated entry is used). Requests without it (or
	// with it blank), and every request when it is empty, use the
	// connection's address.
	ClientIPHeader string
	// VariantCookieMaxAge is how long a visitor keeps an assigned A/B
	// variant.
	VariantCookieMaxAge time.Duration
	// CookieSecure adds Secure to the variant cookie (set it when short
	// links are served over https).
	CookieSecure bool
	// Now is the clock for schedules; nil means time.Now. Tests set it.
	Now func() time.Time
	// Fallback, when its Source is set, looks up codes missing from the
	// table (an edge's Redis). Codes that fail validation never reach it.
	Fallback FallbackConfig
	// Events, when set, receives one event per scan of a known link.
	// Enqueue never blocks.
	Events *analytics.Queue
	// GeoIPDB is the file the command opens Countries from (--geoip-db);
	// the handler never reads it.
	GeoIPDB string
	// PasswordCookieMaxAge is how long the right password opens a
	// protected link in that browser.
	PasswordCookieMaxAge time.Duration
	// Limiter, when set, admits the scans of links with a scan limit
	// exactly (qredge serve); without one the analytics consumer marks
	// links whose limit is reached (the distributed mode).
	Limiter ScanLimiter
}

// DefaultConfig returns the default handler configuration.
func DefaultConfig() Config {
	return Config{PermanentMaxAge: time.Hour, VariantCookieMaxAge: 30 * 24 * time.Hour, PasswordCookieMaxAge: 12 * time.Hour}
}

// Canned responses: package variables, never modified.
var (
	strLocation     = []byte("Location")
	strCacheControl = []byte("Cache-Control")
	strSetCookie    = []byte("Set-Cookie")
	strAllow        = []byte("Allow")
	strNoStore      = []byte("no-store")
	strAllowValue   = []byte("GET, HEAD")
	strHTML         = []byte("text/html; charset=utf-8")
	strPlain        = []byte("text/plain; charset=utf-8")

	notFoundBody = []byte("<!doctype html><meta charset=utf-8><title>Not found</title>" +
		"<h1>Not found</h1><p>This short link does not exist. Check the address and try again.</p>\n")
	goneBody = []byte("<!doctype html><meta charset=utf-8><title>Link no longer active</title>" +
		"<h1>Link no longer active</h1><p>This short link has been disabled or has expired.</p>\n")
	methodBody = []byte("method not allowed: use GET or HEAD\n")
)

// Handler answers GET and HEAD /{code}. It is safe for concurrent use.
type Handler struct {
	table          *Table
	notFoundURL    []byte
	goneURL        []byte
	permanentCC    []byte // 301/308, same for every visitor
	temporaryCC    []byte // 302/307, same for every visitor
	permanentCCVar []byte // 301/308 whose answer depends on the visitor
	temporaryCCVar []byte // 302/307 whose answer depends on the visitor
	countryHeader  string
	countries      CountryLookup
	clientIPHeader string
	cookieAttrs    []byte // "; Max-Age=...; HttpOnly; SameSite=Lax[; Secure]"
	now            func() time.Time
	ownClock       bool // Config.Now was set (tests): use it, not the request's time
	pick           pickFunc
	bufs           sync.Pool
	metrics        *Metrics
	fb             *fallback
	events         *analytics.Queue
	limiter        ScanLimiter
	// Password-protected links (password.go).
	guesses       guesses
	pwChecks      chan struct{} // a slot per argon2id check running
	pwMaxAge      time.Duration
	pwCookieAttrs []byte
}

// FallbackStats returns the counters of table-miss lookups, or nil when
// the handler has no fallback.
func (h *Handler) FallbackStats() *FallbackStats {
	if h.fb == nil {
		return nil
	}
	return &h.fb.stats
}

// Metrics returns the handler's counters, to register with Prometheus.
func (h *Handler) Metrics() *Metrics { return h.metrics }

// NewHandler returns a handler serving links from t.
func NewHandler(cfg Config, t *Table) *Handler {
	maxAge := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	h := &Handler{
		table:          t,
		permanentCC:    []byte("public, max-age=" + maxAge(cfg.PermanentMaxAge)),
		temporaryCC:    []byte("private, no-store"),
		permanentCCVar: []byte("private, max-age=" + maxAge(cfg.PermanentMaxAge)),
		temporaryCCVar: []byte("private, no-store"),
		countryHeader:  cfg.CountryHeader,
		countries:      cfg.Countries,
		clientIPHeader: cfg.ClientIPHeader,
		now:            cfg.Now,
		pick:           randomPick,
		metrics:        newMetrics(),
		events:         cfg.Events,
		limiter:        cfg.Limiter,
		pwChecks:       make(chan struct{}, maxPasswordChecks),
	}
	if cfg.TemporaryMaxAge > 0 {
		h.temporaryCC = []byte("public, max-age=" + maxAge(cfg.TemporaryMaxAge))
		h.temporaryCCVar = []byte("private, max-age=" + maxAge(cfg.TemporaryMaxAge))
	}
	h.ownClock = h.now != nil
	if h.now == nil {
		h.now = time.Now
	}
	defaults.Positive(&cfg.VariantCookieMaxAge, DefaultConfig().VariantCookieMaxAge)
	attrs := "; Max-Age=" + maxAge(cfg.VariantCookieMaxAge) + "; HttpOnly; SameSite=Lax"
	if cfg.CookieSecure {
		attrs += "; Secure"
	}
	h.cookieAttrs = []byte(attrs)
	defaults.Positive(&cfg.PasswordCookieMaxAge, DefaultConfig().PasswordCookieMaxAge)
	h.pwMaxAge = cfg.PasswordCookieMaxAge
	h.pwCookieAttrs = []byte(strings.Replace(attrs, maxAge(cfg.VariantCookieMaxAge), maxAge(cfg.PasswordCookieMaxAge), 1))
	if cfg.NotFoundURL != "" {
		h.notFoundURL = []byte(cfg.NotFoundURL)
	}
	if cfg.GoneURL != "" {
		h.goneURL = []byte(cfg.GoneURL)
	}
	h.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if cfg.Fallback.Source != nil {
		fc := cfg.Fallback
		def := DefaultFallbackConfig()
		defaults.Positive(&fc.NegativeTTL, def.NegativeTTL)
		defaults.Positive(&fc.Timeout, def.Timeout)
		defaults.Positive(&fc.MaxPerSecond, def.MaxPerSecond)
		h.fb = &fallback{cfg: fc, table: t}
	}
	return h
}

// Serve handles one request whose path is /{code}.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	h.serve(ctx)
	h.metrics.observeSince(ctx.ConnID(), ctx.Time())
}

func (h *Handler) serve(ctx *fasthttp.RequestCtx) {
	get := ctx.IsGet()
	post := !get && ctx.IsPost() // the password form of a protected link
	if !get && !post && !ctx.IsHead() {
		h.badMethod(ctx, strAllowValue)
		return
	}
	code := ctx.Path()
	if len(code) > 0 && code[0] == '/' {
		code = code[1:]
	}
	if n := len(code); n > 0 && code[n-1] == '/' {
		code = code[:n-1] // tolerate one trailing slash, as printed URLs often get one
	}
	if !store.IsValidCodeBytes(code) {
		h.count(ctx, rInvalidCode)
		h.writeNotFound(ctx)
		return
	}
	l := h.table.Lookup(ctx.Host(), code)
	if l == nil && h.fb != nil {
		l = h.fb.lookup(ctx.Host(), code, h.now().UnixNano())
	}
	if l == nil {
		h.count(ctx, rNotFound)
		h.writeNotFound(ctx)
		return
	}
	if post && (l.plain || l.password == "") {
		h.badMethod(ctx, strAllowValue)
		return
	}
	if !l.plain && l.password != "" {
		if now := h.requestTime(ctx); post || !h.unlocked(ctx, l, now) {
			h.passwordGate(ctx, l, now)
			return
		}
	}
	source := analytics.SourceLink
	if stripQRMarker(ctx) {
		source = analytics.SourceQR
	}
	if l.plain && h.events == nil {
		// Most links: one destination for everyone, nothing to evaluate.
		h.count(ctx, rRedirect)
		d := plainDecision(l)
		h.writeRedirect(ctx, l, &d)
		return
	}
	var now int64
	if h.events != nil || l.notBefore != 0 || l.notAfter != 0 {
		now = h.requestTime(ctx)
	}
	v := visitor{ctx: ctx, h: h}
	var d decision
	if l.plain {
		d = plainDecision(l)
	} else {
		d = h.decide(l, &v, now, h.pick)
		if l.maxScans > 0 && h.limiter != nil && get && d.reason <= whyVariantCookie && (l.limitBots || !v.isBot()) &&
			!h.limiter.Admit(l.key(), l.created, l.maxScans, l.limitBots) {
			d = goneDecision(l, whyScanLimit)
		}
	}
	if h.events != nil && get {
		// HEAD requests are link checkers and uptime monitors, not
		// visitors: answered, never counted as scans.
		h.record(ctx, l, &v, &d, now, source)
	}
	switch {
	case d.status == fasthttp.StatusNotFound:
		h.count(ctx, rNotFound)
		if d.reason == whyNotYetActive {
			// A known link before its start: its own page says when.
			h.writePage(ctx, fasthttp.StatusNotFound, l.beforePage)
		} else {
			h.writeNotFound(ctx)
		}
	case d.status == fasthttp.StatusGone:
		h.count(ctx, rGone)
		if d.reason == whyExpired && h.goneURL == nil {
			h.writePage(ctx, fasthttp.StatusGone, l.afterPage)
		} else {
			h.writeGone(ctx)
		}
	default:
		h.count(ctx, rRedirect)
		h.writeRedirect(ctx, l, &d)
	}
}

// requestTime is the time of the scan in Unix nanoseconds: the time
// fasthttp read the request (it reads the clock for every request anyway,
// so a second time.Now here would cost ~25 ns for nothing), or the
// configured clock in tests.
func (h *Handler) requestTime(ctx *fasthttp.RequestCtx) int64 {
	if !h.ownClock {
		if t := ctx.Time(); !t.IsZero() {
			return t.UnixNano()
		}
	}
	return h.now().UnixNano()
}

var whyTargets = [...]uint8{
	whyDestination: analytics.TargetDestination, whyRule: analytics.TargetRule, whyVariant: analytics.TargetVariant,
	whyVariantCookie: analytics.TargetVariantCookie, whyNotYetActive: analytics.TargetNotYetActive,
	whyExpired: analytics.TargetExpired, whyDisabled: analytics.TargetDisabled, whyScanLimit: analytics.TargetScanLimit,
}

var deviceEvents = [...]uint8{DeviceOther: analytics.DeviceOther, DeviceIOS: analytics.DeviceIOS,
	DeviceAndroid: analytics.DeviceAndroid, DeviceDesktop: analytics.DeviceDesktop}

// record copies what the scan event needs out of the request into a
// fixed-size value and hands it to the queue, which never blocks.
func (h *Handler) record(ctx *fasthttp.RequestCtx, l *Link, v *visitor, d *decision, now int64, source uint8) {
	e := analytics.Event{Time: now, Key: l.key(), Extras: l.extras(), Version: l.version, Status: uint16(d.status), Rule: int16(d.rule),
		Target: whyTargets[d.reason], Source: source}
	if d.variant >= 0 {
		e.Variant = l.variants[d.variant].label
	}
	if d.rule >= 0 {
		e.RuleName = l.rules[d.rule].name
	}
	if !l.plain {
		e.MaxScans, e.LimitBots = l.maxScans, l.limitBots
	}
	// What the rules already worked out is copied; the rest is left to
	// the batcher (EventEnricher, enrich.go), off the request path.
	if v.known&knowDevice != 0 {
		e.Device, e.Bot = deviceEvents[v.device], v.bot
	} else {
		e.Enrich |= analytics.EnrichDevice
	}
	if v.known&knowLang != 0 {
		copy(e.Lang[:], v.lang[:v.langN])
	} else {
		e.Enrich |= analytics.EnrichLang
	}
	if e.Enrich != 0 {
		e.SetRaw(ctx.Request.Header.UserAgent(), ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
	}
	// The country: what the rules saw, else the trusted header (cheap),
	// else a GeoIP lookup of the client IP, left to the batcher.
	if v.known&knowCountry != 0 {
		e.Country = v.country
	} else if c, ok := h.headerCountry(ctx); ok {
		e.Country = c
	} else if h.countries != nil {
		e.Enrich |= analytics.EnrichCountry
	}
	e.SetReferrer(ctx.Request.Header.Referer())
	if ip := h.clientIP(ctx); ip.IsValid() {
		e.IP = ip.As16()
	}
	h.events.Enqueue(&e)
}

func (h *Handler) count(ctx *fasthttp.RequestCtx, r result) {
	h.metrics.counts[r].inc(ctx.ConnID())
}

func (h *Handler) cacheControl(d *decision) []byte {
	switch {
	case d.reason >= whyNotYetActive || d.noStore:
		// Not yet, expired, disabled, past the limit; or a protected link
		// (a cache would skip its password) or a limited one (whose
		// scans must all be counted).
		return strNoStore // the answer changes at a known time
	case d.status == fasthttp.StatusMovedPermanently || d.status == fasthttp.StatusPermanentRedirect:
		if d.varies {
			return h.permanentCCVar
		}
		return h.permanentCC
	case d.varies:
		return h.temporaryCCVar
	}
	return h.temporaryCC
}

func (h *Handler) writeRedirect(ctx *fasthttp.RequestCtx, l *Link, d *decision) {
	resp := &ctx.Response
	resp.SetStatusCode(d.status)
	resp.Header.SetCanonical(strCacheControl, h.cacheControl(d))
	var q []byte
	if l.forward {
		q = ctx.URI().QueryString()
	}
	if len(q) == 0 && !d.assign {
		resp.Header.SetCanonical(strLocation, d.target.location)
		return
	}
	bp := h.bufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if len(q) == 0 {
		resp.Header.SetCanonical(strLocation, d.target.location)
	} else {
		buf = appendForwarded(buf, &d.target, q, l.scanWins)
		resp.Header.SetCanonical(strLocation, buf) // copies
	}
	if d.assign {
		buf = h.appendVariantCookie(buf[:0], l, d.variant)
		resp.Header.SetCanonical(strSetCookie, buf) // copies
	}
	*bp = buf
	h.bufs.Put(bp)
}

// appendVariantCookie appends the Set-Cookie value that keeps a visitor on
// variant i of l: scoped to the link's path, HttpOnly, SameSite=Lax.
func (h *Handler) appendVariantCookie(dst []byte, l *Link, i int) []byte {
	dst = append(dst, l.cookieKV...)
	dst = append(dst, l.variants[i].name...)
	dst = append(dst, l.path...)
	return append(dst, h.cookieAttrs...)
}

func (h *Handler) badMethod(ctx *fasthttp.RequestCtx, allow []byte) {
	h.count(ctx, rBadMethod)
	ctx.Response.Header.SetCanonical(strAllow, allow)
	ctx.Response.Header.SetContentTypeBytes(strPlain)
	ctx.Response.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	ctx.Response.SetBodyRaw(methodBody)
}

func (h *Handler) writeNotFound(ctx *fasthttp.RequestCtx) {
	h.writeNoLink(ctx, h.notFoundURL, fasthttp.StatusNotFound, notFoundBody)
}

func (h *Handler) writeGone(ctx *fasthttp.RequestCtx) {
	h.writeNoLink(ctx, h.goneURL, fasthttp.StatusGone, goneBody)
}

// writePage answers with a link's own page, not cached: the answer
// changes at a known time.
func (h *Handler) writePage(ctx *fasthttp.RequestCtx, status int, page []byte) {
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(strHTML)
	ctx.Response.SetBodyRaw(page)
}

// writeNoLink answers a scan that has no destination: a 302 to the
// configured URL, or the status with its canned page. Neither is cached, as
// the code may be created or enabled at any time.
func (h *Handler) writeNoLink(ctx *fasthttp.RequestCtx, url []byte, status int, body []byte) {
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	if url != nil {
		ctx.Response.SetStatusCode(fasthttp.StatusFound)
		ctx.Response.Header.SetCanonical(strLocation, url)
		return
	}
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(strHTML)
	ctx.Response.SetBodyRaw(body)
}
