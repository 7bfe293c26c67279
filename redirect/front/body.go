package front

import (
	"io"
	"net/http"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/qredge/qredge/store"
)

// Request bodies on 'qredge serve'. The server streams bodies
// (StreamRequestBody): fasthttp reads at most 8 KiB of one before the
// handler runs and leaves the rest on the connection. A scan with a body
// is refused unread; an API request reaches the net/http API with the
// stream as its body, so the API's authentication, scope check and
// per-route limit (http.MaxBytesReader) all come before the body is read.
// A body left unread is discarded up to 256 KiB; past that fasthttp closes
// the connection instead of reading it.

// bodyStreamKey is the RequestCtx user value that carries a request's
// unread body to the API handler.
type bodyStreamKey struct{}

// streamingAPIHandler serves the net/http API on fasthttp without reading
// request bodies first. fasthttpadaptor reads the whole body before it
// calls the handler (ctx.PostBody), so the stream is taken off the
// request before the adaptor sees it and given back to the http.Request.
// The adaptor runs the handler on another goroutine while this one waits
// for it, so the stream is never read from two goroutines at once.
func streamingAPIHandler(h http.Handler) fasthttp.RequestHandler {
	adapted := fasthttpadaptor.NewFastHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctx, ok := r.Context().(*fasthttp.RequestCtx); ok {
			if body, ok := ctx.UserValue(bodyStreamKey{}).(io.Reader); ok {
				r.Body = io.NopCloser(body)
				r.ContentLength = int64(ctx.Request.Header.ContentLength())
				if r.ContentLength < 0 {
					r.ContentLength = -1 // chunked
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	return func(ctx *fasthttp.RequestCtx) {
		if body := ctx.RequestBodyStream(); body != nil && hasBody(ctx) {
			ctx.SetUserValue(bodyStreamKey{}, body)
			// Detach the stream unread; fasthttp drains or closes it
			// after the handler.
			ctx.Request.ResetBody()
		}
		adapted(ctx)
	}
}

// hasBody reports whether the request announces a body: a positive
// Content-Length, or chunked (-1). Without the header it is -2.
func hasBody(ctx *fasthttp.RequestCtx) bool {
	n := ctx.Request.Header.ContentLength()
	return n > 0 || n == -1
}

// refuseScanBody answers a scan that came with a body, before reading it:
// a redirect takes none. The connection closes, so the body is never read.
func refuseScanBody(ctx *fasthttp.RequestCtx) {
	WriteProblem(ctx, fasthttp.StatusRequestEntityTooLarge, store.ETOOLARGE, "a scan takes no request body")
	ctx.SetConnectionClose()
}

// maxFormBody bounds the body of a protected link's password form.
const maxFormBody = 4 << 10

// isPasswordForm reports whether the request may be a protected link's
// password form: a POST with a small body of known length (the handler
// refuses POST to other links).
func isPasswordForm(ctx *fasthttp.RequestCtx) bool {
	n := ctx.Request.Header.ContentLength()
	return ctx.IsPost() && n > 0 && n <= maxFormBody
}
