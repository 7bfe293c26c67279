package front

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// plainRequestError answers requests fasthttp could not read (the edge's
// ErrorHandler), in plain text that names no software.
func plainRequestError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := RequestErrorStatus(err)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentTypeBytes(textPlain)
	ctx.SetBodyString(msg + "\n")
}

// RequestErrorStatus maps an error of fasthttp's request reading to a
// status and a message.
func RequestErrorStatus(err error) (int, string) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "request headers too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fasthttp.StatusRequestTimeout, "request not received in time"
	case errors.Is(err, errBareLF):
		return fasthttp.StatusBadRequest, "malformed HTTP request: lines must end in CRLF"
	}
	return fasthttp.StatusBadRequest, "malformed HTTP request"
}
