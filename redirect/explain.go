package redirect

import (
	"net/netip"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/store"
)

// ExplainInput describes a visitor for Explain.
type ExplainInput struct {
	UserAgent      string
	AcceptLanguage string
	Country        string     // ISO code; when empty, from IP and the handler's GeoIP database
	IP             netip.Addr // optional
	At             time.Time  // when; zero means now
	RawQuery       string     // the scan's query string, without '?'; a leading QR marker ("q") is dropped, as scans drop it
	Headers        [][2]string
	Cookies        [][2]string
}

// Explanation is where a visitor would be sent and why.
type Explanation struct {
	Status    int
	Location  string
	Reason    string // one of the Reason constants
	Rule      int    // index of the matching rule, or -1
	Variant   string // name of the chosen variant, if any
	SetCookie string // the cookie a new visitor would get
	Device    string
	Bot       bool
	Country   string
	Lang      string
	Cache     string // Cache-Control of the answer
}

// Explain evaluates l for the described visitor with exactly the code
// that serves scans, without counting anything. A new visitor of a link
// with variants is assigned one at random, as a real scan would be.
func (h *Handler) Explain(l *store.Link, in ExplainInput) Explanation {
	c := Compile(l)
	if c.linkExt == nil {
		c.linkExt = &linkExt{}
	}
	if c.linkLogic == nil {
		c.linkLogic = noLogic
	}
	if rest, ok := cutQRMarker([]byte(in.RawQuery)); ok {
		in.RawQuery = string(rest)
	}
	ctx := &fasthttp.RequestCtx{}
	uri := "/" + l.Code
	if in.RawQuery != "" {
		uri += "?" + in.RawQuery
	}
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetUserAgent(in.UserAgent)
	if in.AcceptLanguage != "" {
		ctx.Request.Header.Set(fasthttp.HeaderAcceptLanguage, in.AcceptLanguage)
	}
	for _, kv := range in.Headers {
		ctx.Request.Header.Add(kv[0], kv[1])
	}
	for _, kv := range in.Cookies {
		ctx.Request.Header.SetCookie(kv[0], kv[1])
	}
	v := visitor{ctx: ctx, h: h}
	switch {
	case in.Country != "":
		v.known |= knowCountry
		if len(in.Country) == 2 {
			v.country = [2]byte{upper(in.Country[0]), upper(in.Country[1])}
		}
	case in.IP.IsValid() && h.countries != nil:
		v.known |= knowCountry
		v.country = h.countries.Country(in.IP.Unmap())
	}
	at := in.At
	if at.IsZero() {
		at = h.now()
	}
	d := h.decide(c, &v, at.UnixNano(), h.pick)
	v.Device()
	country := v.Country()
	ex := Explanation{Status: d.status, Reason: d.reason.String(), Rule: d.rule, Device: DeviceName(v.device), Bot: v.bot,
		Country: strings.TrimRight(string(country[:]), "\x00"), Lang: string(v.Lang())}
	if d.variant >= 0 {
		ex.Variant = string(c.variants[d.variant].name)
	}
	switch d.status {
	case fasthttp.StatusNotFound, fasthttp.StatusGone:
		ex.Cache = string(strNoStore)
		return ex
	}
	ex.Cache = string(h.cacheControl(&d))
	if c.forward && in.RawQuery != "" {
		ex.Location = string(appendForwarded(nil, &d.target, []byte(in.RawQuery), c.scanWins))
	} else {
		ex.Location = string(d.target.location)
	}
	if d.assign {
		ex.SetCookie = string(h.appendVariantCookie(nil, c, d.variant))
	}
	return ex
}
