package redirect

import (
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

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
}

// DefaultConfig returns the default handler configuration.
func DefaultConfig() Config {
	return Config{PermanentMaxAge: time.Hour}
}

// Canned responses: package variables, never modified.
var (
	strLocation     = []byte("Location")
	strCacheControl = []byte("Cache-Control")
	strAllow        = []byte("Allow")
	strNoStore      = []byte("no-store")
	strAllowValue   = []byte("GET, HEAD")
	strHTML         = []byte("text/html; charset=utf-8")
	strPlain        = []byte("text/plain; charset=utf-8")

	notFoundBody = []byte("<!doctype html><meta charset=utf-8><title>Not found</title>" +
		"<h1>Not found</h1><p>This short link does not exist. Check the address and try again.</p>\n")
	goneBody = []byte("<!doctype html><meta charset=utf-8><title>Link no longer active</title>" +
		"<h1>Link no longer active</h1><p>This short link has been disabled.</p>\n")
	methodBody = []byte("method not allowed: use GET or HEAD\n")
)

// Handler answers GET and HEAD /{code}. It is safe for concurrent use.
type Handler struct {
	table       *Table
	notFoundURL []byte
	goneURL     []byte
	permanentCC []byte
	temporaryCC []byte
	bufs        sync.Pool
	metrics     *Metrics
}

// Metrics returns the handler's counters, to register with Prometheus.
func (h *Handler) Metrics() *Metrics { return h.metrics }

// NewHandler returns a handler serving links from t.
func NewHandler(cfg Config, t *Table) *Handler {
	h := &Handler{
		table:       t,
		permanentCC: []byte("public, max-age=" + strconv.Itoa(int(cfg.PermanentMaxAge/time.Second))),
		temporaryCC: []byte("private, no-store"),
		metrics:     newMetrics(),
	}
	if cfg.TemporaryMaxAge > 0 {
		h.temporaryCC = []byte("public, max-age=" + strconv.Itoa(int(cfg.TemporaryMaxAge/time.Second)))
	}
	if cfg.NotFoundURL != "" {
		h.notFoundURL = []byte(cfg.NotFoundURL)
	}
	if cfg.GoneURL != "" {
		h.goneURL = []byte(cfg.GoneURL)
	}
	h.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return h
}

// Serve handles one request whose path is /{code}.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		h.count(ctx, rBadMethod)
		ctx.Response.Header.SetCanonical(strAllow, strAllowValue)
		ctx.Response.Header.SetContentTypeBytes(strPlain)
		ctx.Response.SetStatusCode(fasthttp.StatusMethodNotAllowed)
		ctx.Response.SetBodyRaw(methodBody)
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
	if l == nil {
		h.count(ctx, rNotFound)
		h.writeNotFound(ctx)
		return
	}
	if l.disabled {
		h.count(ctx, rGone)
		h.writeGone(ctx)
		return
	}
	h.count(ctx, rRedirect)
	h.writeRedirect(ctx, l.status, &l.dest, l.forward)
}

func (h *Handler) count(ctx *fasthttp.RequestCtx, r result) {
	h.metrics.counts[r].inc(ctx.ConnID())
}

func (h *Handler) cacheControl(status int) []byte {
	if status == fasthttp.StatusMovedPermanently || status == fasthttp.StatusPermanentRedirect {
		return h.permanentCC
	}
	return h.temporaryCC
}

func (h *Handler) writeRedirect(ctx *fasthttp.RequestCtx, status int, t *target, forward bool) {
	resp := &ctx.Response
	resp.SetStatusCode(status)
	resp.Header.SetCanonical(strCacheControl, h.cacheControl(status))
	var q []byte
	if forward {
		q = ctx.URI().QueryString()
	}
	if len(q) == 0 {
		resp.Header.SetCanonical(strLocation, t.location)
		return
	}
	bp := h.bufs.Get().(*[]byte)
	loc := appendForwarded((*bp)[:0], t, q)
	resp.Header.SetCanonical(strLocation, loc) // copies
	*bp = loc
	h.bufs.Put(bp)
}

func (h *Handler) writeNotFound(ctx *fasthttp.RequestCtx) {
	h.writeNoLink(ctx, h.notFoundURL, fasthttp.StatusNotFound, notFoundBody)
}

func (h *Handler) writeGone(ctx *fasthttp.RequestCtx) {
	h.writeNoLink(ctx, h.goneURL, fasthttp.StatusGone, goneBody)
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
