package redirect

import "github.com/valyala/fasthttp"

// The QR marker: a link's qr_url is its short URL plus "?q", so a scan of
// a printed code can be told from a click on the short link. Only a bare
// "q" as the first query parameter is the marker ("?q" or "?q&utm=x");
// "?q=shoes" is an ordinary parameter.

// cutQRMarker reports whether the raw query qs starts with the marker, and
// returns the query after it.
func cutQRMarker(qs []byte) ([]byte, bool) {
	if len(qs) == 0 || qs[0] != 'q' {
		return qs, false
	}
	if len(qs) == 1 {
		return qs[:0], true
	}
	if qs[1] == '&' {
		return qs[2:], true
	}
	return qs, false
}

// stripQRMarker removes the marker from the request's query, so rules and
// query forwarding never see it, and reports whether it was there. It
// does not allocate: the query is shifted within its own buffer.
func stripQRMarker(ctx *fasthttp.RequestCtx) bool {
	uri := ctx.URI()
	rest, ok := cutQRMarker(uri.QueryString())
	if ok {
		uri.SetQueryStringBytes(rest)
	}
	return ok
}
