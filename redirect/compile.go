package redirect

import (
	"net/url"

	"github.com/qredge/qredge/store"
)

// Link is a link compiled for the hot path: everything the handler writes
// or compares is prepared here once, when the link is loaded, not per
// request.
type Link struct {
	domain   []byte // lower-case host, or nil for every host
	version  uint64
	status   int
	disabled bool
	forward  bool
	scanWins bool // forwarded scan query values win over the destination's
	varies   bool // the answer depends on the visitor (rules or variants)
	plain    bool // no rules, variants, schedule or disabled flag: the fast path
	dest     target
	rules    []rule
	variants []variant
	total    uint64 // sum of variant weights
	cookie   string // name of the sticky variant cookie
	cookieKV []byte // "name=" prefix of the Set-Cookie value
	path     []byte // "; Path=/code" of the Set-Cookie value
	// Schedule, in Unix nanoseconds; 0 means unbounded.
	notBefore, notAfter int64
	before, after       *target // nil: 404 before, 410 after
	src                 *store.Link
}

// Source returns the stored link l was compiled from. Callers must not
// modify it.
func (l *Link) Source() *store.Link { return l.src }

// target is a destination URL split for query forwarding.
type target struct {
	location []byte     // the whole URL, as the Location header
	path     []byte     // the URL before '?' (or '#')
	pairs    []destPair // the query's pairs, raw, empty ones dropped
	fragment []byte     // "#..." or nil
}

type destPair struct {
	raw []byte // "k=v" as in the URL
	key string // k, percent-decoded
}

func compileTarget(dest string) target {
	t := target{location: []byte(dest)}
	base := dest
	for i := 0; i < len(dest); i++ {
		if dest[i] == '#' {
			base, t.fragment = dest[:i], []byte(dest[i:])
			break
		}
	}
	path, query := base, ""
	for i := 0; i < len(base); i++ {
		if base[i] == '?' {
			path, query = base[:i], base[i+1:]
			break
		}
	}
	t.path = []byte(path)
	for query != "" {
		var pair string
		pair, query = cutString(query, '&')
		if pair == "" {
			continue
		}
		k, _ := cutString(pair, '=')
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		t.pairs = append(t.pairs, destPair{raw: []byte(pair), key: key})
	}
	return t
}

func cutString(s string, sep byte) (before, after string) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// rule is a compiled store.Rule. Empty fields match everything.
type rule struct {
	devices   uint8     // device class bits
	countries [][2]byte // upper-case ISO codes
	langs     [][]byte  // lower-case primary subtags
	query     []kv
	header    []kv
	cookie    []kv
	target    target
}

// kv is one name=value condition; any means "present, whatever the value"
// (the value "*").
type kv struct {
	key string
	val []byte
	any bool
}

func compileKVs(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{key: k, val: []byte(v), any: v == "*"})
	}
	return out
}

// variant is one arm of an A/B split.
type variant struct {
	name   []byte
	weight uint64
	target target
}

// Compile prepares a validated link for the hot path.
func Compile(l *store.Link) *Link {
	c := &Link{
		version:  l.Version,
		status:   l.Status,
		disabled: l.Disabled,
		forward:  l.ForwardQuery,
		scanWins: l.QueryPrecedence == store.QueryScanWins,
		dest:     compileTarget(l.Destination),
		src:      l,
	}
	if c.status == 0 {
		c.status = store.DefaultStatus
	}
	if l.Domain != "" {
		c.domain = []byte(l.Domain)
	}
	for _, r := range l.Rules {
		cr := rule{target: compileTarget(r.Destination)}
		for _, d := range r.When.Device {
			cr.devices |= deviceBit(d)
		}
		for _, ctry := range r.When.Country {
			if len(ctry) == 2 {
				cr.countries = append(cr.countries, [2]byte{ctry[0], ctry[1]})
			}
		}
		for _, lang := range r.When.Lang {
			cr.langs = append(cr.langs, []byte(lang))
		}
		cr.query = compileKVs(r.When.Query)
		cr.header = compileKVs(r.When.Header)
		cr.cookie = compileKVs(r.When.Cookie)
		c.rules = append(c.rules, cr)
	}
	for _, v := range l.Variants {
		if v.Weight <= 0 {
			continue
		}
		c.variants = append(c.variants, variant{name: []byte(v.Name), weight: uint64(v.Weight), target: compileTarget(v.Destination)})
		c.total += uint64(v.Weight)
	}
	if len(c.variants) > 0 {
		c.cookie = VariantCookiePrefix + l.Code
		c.cookieKV = []byte(c.cookie + "=")
		c.path = []byte("; Path=/" + l.Code)
	}
	c.varies = len(c.rules) > 0 || len(c.variants) > 0
	c.plain = !c.varies && !c.disabled && l.Schedule == nil
	if s := l.Schedule; s != nil {
		if s.NotBefore != nil {
			c.notBefore = s.NotBefore.UnixNano()
			if s.BeforeURL != "" {
				t := compileTarget(s.BeforeURL)
				c.before = &t
			}
		}
		if s.NotAfter != nil {
			c.notAfter = s.NotAfter.UnixNano()
			if s.AfterURL != "" {
				t := compileTarget(s.AfterURL)
				c.after = &t
			}
		}
	}
	return c
}

// VariantCookiePrefix starts the name of every sticky-variant cookie; the
// code follows, so each link keeps its own assignment.
const VariantCookiePrefix = "qv_"
