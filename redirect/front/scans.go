package front

import (
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/redirect"
)

var (
	textPlain   = []byte("text/plain; charset=utf-8")
	loadingBody = []byte("loading links; try again in a moment\n")
	strOne      = []byte("1")
)

// Scans is the public listener of 'qredge edge': every request is a scan.
// A Host not in Hosts gets 421; while the table loads a scan gets 503 with
// Retry-After (unless ServeWhileLoading: the handler then looks missing
// codes up one by one); everything else goes to Redirect.
type Scans struct {
	Hosts             *HostSet // nil: any host
	Table             *redirect.Table
	ServeWhileLoading bool
	Redirect          *redirect.Handler
}

// Server returns the fasthttp server of the edge's public listener, with
// the limits of c. Requests fasthttp cannot read get plain-text answers
// that name no software.
func (s *Scans) Server(c *Config, log *slog.Logger) *fasthttp.Server {
	srv := &fasthttp.Server{
		Handler:              s.Serve,
		ErrorHandler:         plainRequestError,
		NoDefaultContentType: true,
		MaxRequestBodySize:   edgeMaxRequestBody,
		CloseOnShutdown:      true,
		Logger:               logger{log},
	}
	c.FastHTTPLimits(srv)
	return srv
}

// Serve is the fasthttp handler. It does not allocate.
func (s *Scans) Serve(ctx *fasthttp.RequestCtx) {
	if !s.Hosts.Allowed(ctx.Host()) {
		WriteMisdirected(ctx)
		return
	}
	if !s.Table.Ready() && !s.ServeWhileLoading {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.SetBytesV("Retry-After", strOne)
		ctx.SetContentTypeBytes(textPlain)
		ctx.Response.SetBodyRaw(loadingBody)
		return
	}
	s.Redirect.Serve(ctx)
}
