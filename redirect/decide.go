package redirect

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// CountryLookup maps a client IP to an upper-case ISO 3166 alpha-2 code,
// or the zero value when unknown. Implementations must not allocate.
type CountryLookup interface {
	Country(ip netip.Addr) [2]byte
}

// visitor holds what the rules ask about one request, worked out lazily:
// a link without rules never classifies the User-Agent or looks up a
// country.
type visitor struct {
	ctx     *fasthttp.RequestCtx
	h       *Handler
	known   uint8
	device  uint8
	bot     bool
	country [2]byte
	lang    [maxLang]byte
	langN   int
}

const (
	knowDevice uint8 = 1 << iota
	knowCountry
	knowLang
)

func (v *visitor) Device() uint8 {
	if v.known&knowDevice == 0 {
		v.known |= knowDevice
		v.device, v.bot = ClassifyUA(v.ctx.Request.Header.UserAgent())
	}
	return v.device
}

// isBot reports whether the visitor is a crawler or link-preview fetcher.
func (v *visitor) isBot() bool {
	v.Device()
	return v.bot
}

func (v *visitor) Country() [2]byte {
	if v.known&knowCountry == 0 {
		v.known |= knowCountry
		v.country = v.h.country(v.ctx)
	}
	return v.country
}

func (v *visitor) Lang() []byte {
	if v.known&knowLang == 0 {
		v.known |= knowLang
		v.lang, v.langN = primaryLang(v.ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
	}
	return v.lang[:v.langN]
}

// country returns the visitor's country: from the trusted header when one
// is configured, else from the GeoIP database by client IP.
func (h *Handler) country(ctx *fasthttp.RequestCtx) [2]byte {
	if c, ok := h.headerCountry(ctx); ok {
		return c
	}
	if h.countries != nil {
		if ip := h.clientIP(ctx); ip.IsValid() {
			return h.countries.Country(ip)
		}
	}
	return [2]byte{}
}

// headerCountry returns the country of the trusted header, when one is
// configured and the request carries a valid one.
func (h *Handler) headerCountry(ctx *fasthttp.RequestCtx) ([2]byte, bool) {
	if h.countryHeader == "" {
		return [2]byte{}, false
	}
	b := ctx.Request.Header.Peek(h.countryHeader)
	if len(b) != 2 || !isLetter(b[0]) || !isLetter(b[1]) {
		return [2]byte{}, false
	}
	return [2]byte{upper(b[0]), upper(b[1])}, true
}

// clientIP returns the client address: from the trusted proxy header when
// configured and the request has it (its last entry, the one the nearest
// proxy appended), else from the connection. A request without the header
// (or with a blank one) did not come through the proxy, so its connection
// is the client's; a header value that is not an address gives none.
func (h *Handler) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	if h.clientIPHeader != "" {
		if b := trimSpace(ctx.Request.Header.Peek(h.clientIPHeader)); len(b) > 0 {
			return lastIP(b)
		}
	}
	ip, _ := netip.AddrFromSlice(ctx.RemoteIP())
	return ip.Unmap()
}

// lastIP parses the last comma-separated entry of a proxy header.
func lastIP(b []byte) netip.Addr {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ',' {
			b = b[i+1:]
			break
		}
	}
	b = trimSpace(b)
	if len(b) == 0 {
		return netip.Addr{}
	}
	// ParseAddr does not keep its argument, so a string that shares the
	// header's bytes is safe and saves an allocation.
	ip, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// Reasons for a decision, as the resolve endpoint reports them.
const (
	ReasonDestination   = "destination"
	ReasonRule          = "rule"
	ReasonVariant       = "variant"        // assigned now, by weight
	ReasonVariantCookie = "variant_cookie" // kept from the visitor's cookie
	ReasonNotYetActive  = "not_yet_active" // before schedule.not_before
	ReasonExpired       = "expired"        // at or after schedule.not_after
	ReasonDisabled      = "disabled"
	ReasonScanLimit     = "scan_limit" // past max_scans
)

// why is the reason of a decision as a small integer, so the hot path
// indexes arrays (names, event targets) instead of comparing strings.
type why uint8

const (
	whyDestination why = iota
	whyRule
	whyVariant
	whyVariantCookie
	whyNotYetActive
	whyExpired
	whyDisabled
	whyScanLimit
)

var whyNames = [...]string{
	whyDestination: ReasonDestination, whyRule: ReasonRule, whyVariant: ReasonVariant, whyVariantCookie: ReasonVariantCookie,
	whyNotYetActive: ReasonNotYetActive, whyExpired: ReasonExpired, whyDisabled: ReasonDisabled, whyScanLimit: ReasonScanLimit,
}

func (w why) String() string { return whyNames[w] }

// decision is what the handler does with one scan of one link.
type decision struct {
	status  int    // 3xx, 404 or 410
	target  target // for 3xx
	reason  why
	rule    int  // index of the matching rule, or -1
	variant int  // index of the variant, or -1
	assign  bool // a variant was assigned now: set the cookie
	varies  bool // the answer depends on the visitor
	noStore bool // not cached anywhere: a protected or limited link
}

// plainDecision is the decision for a link with one destination for
// everyone.
func plainDecision(l *Link) decision {
	return decision{status: int(l.status), target: l.dest(), reason: whyDestination, rule: -1, variant: -1}
}

// pickFunc returns a uniform number in [0, n). Tests replace it.
type pickFunc func(n uint64) uint64

// decide evaluates a link for one request: disabled, schedule, rules in
// order (first match wins), variants (sticky by cookie), destination.
func (h *Handler) decide(l *Link, v *visitor, now int64, pick pickFunc) decision {
	d := decision{status: int(l.status), target: l.dest(), reason: whyDestination, rule: -1, variant: -1, varies: l.varies,
		noStore: l.noStore}
	switch {
	case l.disabled:
		return goneDecision(l, whyDisabled)
	case l.reached:
		return goneDecision(l, whyScanLimit)
	case l.notBefore != 0 && now < l.notBefore:
		if l.before == nil {
			return decision{status: fasthttp.StatusNotFound, reason: whyNotYetActive, rule: -1, variant: -1}
		}
		return decision{status: fasthttp.StatusFound, target: *l.before, reason: whyNotYetActive, rule: -1, variant: -1}
	case l.notAfter != 0 && now >= l.notAfter:
		if l.after == nil {
			return decision{status: fasthttp.StatusGone, reason: whyExpired, rule: -1, variant: -1}
		}
		return decision{status: fasthttp.StatusFound, target: *l.after, reason: whyExpired, rule: -1, variant: -1}
	}
	for i := range l.rules {
		if v.matches(&l.rules[i]) {
			d.target, d.reason, d.rule = l.rules[i].target, whyRule, i
			return d
		}
	}
	if len(l.variants) > 0 {
		if c := v.ctx.Request.Header.Cookie(l.cookie); len(c) > 0 {
			for i := range l.variants {
				if bytes.Equal(c, l.variants[i].name) {
					d.target, d.reason, d.variant = l.variants[i].target, whyVariantCookie, i
					return d
				}
			}
		}
		// New visitor, or a variant that no longer exists: assign by
		// weight. Visitors holding a variant that still exists are never
		// reshuffled, whatever the weights have become.
		n := pick(l.total)
		for i := range l.variants {
			if n < l.variants[i].weight {
				d.target, d.reason, d.variant, d.assign = l.variants[i].target, whyVariant, i, true
				return d
			}
			n -= l.variants[i].weight
		}
		panic("BUG: variant weights do not add up to their total")
	}
	return d
}

func randomPick(n uint64) uint64 { return rand.Uint64N(n) }

// goneDecision is the answer of a link that is disabled or past its scan
// limit: its gone_url, for the limit else its schedule's after_url, else
// 410 (the deployment's --gone-url or page).
func goneDecision(l *Link, reason why) decision {
	d := decision{status: fasthttp.StatusGone, reason: reason, rule: -1, variant: -1}
	switch {
	case l.gone != nil:
		d.status, d.target = fasthttp.StatusFound, *l.gone
	case reason == whyScanLimit && l.after != nil:
		d.status, d.target = fasthttp.StatusFound, *l.after
	}
	return d
}

// matches reports whether every condition of r holds for the visitor.
func (v *visitor) matches(r *rule) bool {
	if r.devices != 0 && r.devices&v.Device() == 0 {
		return false
	}
	if len(r.countries) > 0 {
		c := v.Country()
		found := false
		for _, rc := range r.countries {
			if rc == c {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(r.langs) > 0 {
		lang := v.Lang()
		found := false
		for _, rl := range r.langs {
			if bytes.Equal(rl, lang) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for i := range r.query {
		c := &r.query[i]
		args := v.ctx.QueryArgs()
		if !args.Has(c.key) || (!c.any && !bytes.Equal(args.Peek(c.key), c.val)) {
			return false
		}
	}
	for i := range r.header {
		c := &r.header[i]
		got := v.ctx.Request.Header.Peek(c.key)
		if len(got) == 0 || (!c.any && !bytes.Equal(got, c.val)) {
			return false
		}
	}
	for i := range r.cookie {
		c := &r.cookie[i]
		got := v.ctx.Request.Header.Cookie(c.key)
		if len(got) == 0 || (!c.any && !bytes.Equal(got, c.val)) {
			return false
		}
	}
	return true
}
