package front

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/store"
)

// Router is the one public listener of 'qredge serve': /api/ (and the web
// console's /ui/, when UI is set) goes to the API, /healthz, /readyz and /metrics to the probes, and every other path
// is a scan: a Host not in Hosts gets 421, a scan with a body 413 (unread),
// the rest goes to Redirect. A panic in any of them is a 500 for that
// request, counted in Panics, not a crash.
type Router struct {
	API              http.Handler
	UI               bool // /ui and /ui/ go to API too (--ui)
	Metrics          http.Handler
	Readiness        func() (bool, string)
	Hosts            *HostSet // nil: any host
	Redirect         *redirect.Handler
	MaxBodyBytes     int64 // --max-body-bytes, named in 413 answers
	MaxBulkBodyBytes int64 // --max-bulk-body-bytes, the bulk route's
	Panics           prometheus.Counter
	Log              *slog.Logger

	api, metrics   fasthttp.RequestHandler
	maxRequestBody int
}

var (
	prefixAPI   = []byte("/api/")
	pathAPI     = []byte("/api")
	prefixUI    = []byte("/ui/")
	pathUI      = []byte("/ui")
	pathHealthz = []byte("/healthz")
	pathReadyz  = []byte("/readyz")
	pathMetrics = []byte("/metrics")
	// pathBulk is the bulk route, whose body limit is --max-bulk-body-bytes.
	pathBulk = []byte("/api/v1/links/bulk")
)

// Server returns the fasthttp server of the router, with the limits of c.
func (r *Router) Server(c *Config) *fasthttp.Server {
	r.api = streamingAPIHandler(r.API)
	r.metrics = fasthttpadaptor.NewFastHTTPHandler(r.Metrics)
	r.maxRequestBody = int(max(4*r.MaxBodyBytes, r.MaxBulkBodyBytes+1<<20, 8<<20))
	srv := &fasthttp.Server{
		Handler:              r.serve,
		ErrorHandler:         r.requestError,
		Logger:               logger{r.Log},
		NoDefaultContentType: true,
		// No body is read before the handler: fasthttp hands it over as a
		// stream (after at most 8 KiB), so that scans and API requests
		// that fail authentication are refused without reading it, and
		// the API reads at most its route's limit (body.go).
		StreamRequestBody:  true,
		MaxRequestBodySize: r.maxRequestBody,
		CloseOnShutdown:    true,
	}
	c.FastHTTPLimits(srv)
	return srv
}

func (r *Router) serve(ctx *fasthttp.RequestCtx) {
	defer r.RecoverPanic(ctx)
	path := ctx.Path()
	switch {
	case bytes.HasPrefix(path, prefixAPI) || bytes.Equal(path, pathAPI) ||
		r.UI && (bytes.HasPrefix(path, prefixUI) || bytes.Equal(path, pathUI)):
		if ctx.Request.Header.ContentLength() > r.maxRequestBody {
			// Far over every route's limit: refused unread, as fasthttp
			// does without streaming.
			r.requestError(ctx, fasthttp.ErrBodyTooLarge)
			return
		}
		r.api(ctx)
	case bytes.Equal(path, pathHealthz):
		ctx.SetContentTypeBytes(textPlain)
		ctx.SetBodyString("ok\n")
	case bytes.Equal(path, pathReadyz):
		ctx.SetContentTypeBytes(textPlain)
		ok, detail := r.Readiness()
		if !ok {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
		ctx.SetBodyString(detail + "\n")
	case bytes.Equal(path, pathMetrics):
		r.metrics(ctx)
	case !r.Hosts.Allowed(ctx.Host()):
		WriteMisdirected(ctx)
	case hasBody(ctx) && !isPasswordForm(ctx):
		refuseScanBody(ctx)
	default:
		r.Redirect.Serve(ctx)
	}
}

// RecoverPanic, deferred, turns a panic in a handler into a 500 for that request
// instead of a crash of the whole process (fasthttp does not recover).
func (r *Router) RecoverPanic(ctx *fasthttp.RequestCtx) {
	rec := recover()
	if rec == nil {
		return
	}
	r.Panics.Inc()
	r.Log.Error("BUG: panic while serving a request", "path", string(ctx.Path()), "panic", rec, "stack", string(debug.Stack()))
	WriteProblem(ctx, fasthttp.StatusInternalServerError, store.EINTERNAL, "internal error; the server log has the details")
}

// requestError answers requests fasthttp could not read, as problem+json.
func (r *Router) requestError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		limit, flag := r.MaxBodyBytes, "--max-body-bytes"
		if bytes.HasPrefix(ctx.Path(), pathBulk) {
			limit, flag = r.MaxBulkBodyBytes, "--max-bulk-body-bytes"
		}
		WriteProblem(ctx, fasthttp.StatusRequestEntityTooLarge, store.ETOOLARGE,
			fmt.Sprintf("request body is larger than %d bytes (%s)", limit, flag))
		ctx.SetConnectionClose()
		return
	}
	status, msg := RequestErrorStatus(err)
	WriteProblem(ctx, status, store.EBADREQUEST, msg)
}

// WriteProblem answers with a problem+json body from outside the API
// handler (fasthttp's own errors, recovered panics), in the API's shape.
func WriteProblem(ctx *fasthttp.RequestCtx, status int, code, detail string) {
	body, _ := json.Marshal(api.Problem{Type: "about:blank", Title: fasthttp.StatusMessage(status), Status: status, Code: code, Detail: detail})
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType(api.ProblemContentType)
	ctx.SetBody(body)
}
