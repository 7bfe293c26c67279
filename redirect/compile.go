package redirect

import (
	"fmt"
	"math"
	"net/url"
	"time"
	"unsafe"

	"github.com/qredge/qredge/store"
)

// Link is a link compiled for the hot path: everything the handler writes
// or compares is prepared here once, when the link is loaded, not per
// request.
//
// The table holds millions of links, and every byte per link counts
// (docs/benchmarks.md has the figures): a plain link is this struct (48
// bytes, exactly a size class) and one string, and everything most
// links do not use lives behind one pointer. The rest of the stored link
// (tags, times, the rules as written) is kept in its binary form at the
// end of s, in the same allocation, so that the table can give back every
// link it holds (Stored) for a restore, at about 15 bytes for a plain
// link.
type Link struct {
	// s is the key, store.LinkKey(domain, code) (code, NUL, domain), which
	// events share and whose code is the table's map key, then the
	// destination URL, the Location header, then the link's extras
	// (store.AppendLinkExtras): one allocation for all of them.
	s       string
	version uint64
	// nil for plain links that do not forward the query.
	*linkExt
	keyLen   uint16 // s[:keyLen] is the key, s[keyLen:destEnd] the destination
	codeLen  uint16 // s[:codeLen] is the code
	destEnd  uint16 // s[destEnd:] holds the extras
	status   int16
	disabled bool
	forward  bool
	scanWins bool // forwarded scan query values win over the destination's
	varies   bool // the answer depends on the visitor (rules or variants)
	plain    bool // no rules, variants, schedule or disabled flag: the fast path
	group    bool // not a link: the table's node for a code with domain-bound links (links)
}

func (l *Link) key() string  { return l.s[:l.keyLen] }
func (l *Link) code() string { return l.s[:l.codeLen] }

// domain returns the lower-case host the link is bound to, or "" for
// every host.
func (l *Link) domain() string { return l.s[l.codeLen+1 : l.keyLen] }

// location returns the destination URL, the Location header. It shares
// the bytes of s, so nothing may write to it: fasthttp copies header
// values, and everything else only reads it.
func (l *Link) location() []byte {
	loc := l.s[l.keyLen:l.destEnd]
	return unsafe.Slice(unsafe.StringData(loc), len(loc))
}

// extras returns the link's stored extras (store.AppendLinkExtras).
func (l *Link) extras() string { return l.s[l.destEnd:] }

// Stored returns the link as stored (a new value, nil for a table's group
// node): what an export of the table writes.
func (l *Link) Stored() (*store.Link, error) {
	if l.group {
		return nil, nil
	}
	sl := &store.Link{Code: l.code(), Domain: l.domain(), Destination: l.s[l.keyLen:l.destEnd], Version: l.version}
	if err := store.DecodeLinkExtras(sl, []byte(l.extras())); err != nil {
		return nil, fmt.Errorf("link %q in the table: %w", l.code(), err)
	}
	return sl, nil
}

// dest returns the link's destination. Only a forwarding link, the only
// kind that merges a query into it, gets its query split (pathEnd,
// fragStart, pairs); the others leave them zero.
func (l *Link) dest() target {
	t := target{location: l.location()}
	if l.forward {
		t.pathEnd, t.fragStart, t.pairs = l.pathEnd, l.fragStart, l.pairs
	}
	return t
}

// linkExt holds the parts of a link that only some links have.
type linkExt struct {
	// The destination's query split, for forwarding links (see target).
	pathEnd, fragStart int32
	pairs              []destPair
	// nil for plain links.
	*linkLogic
	links *codeLinks // of a group node
}

// linkLogic is what decide evaluates beyond the destination.
type linkLogic struct {
	rules    []rule
	variants []variant
	total    uint64 // sum of variant weights
	cookie   string // name of the sticky variant cookie
	cookieKV []byte // "name=" prefix of the Set-Cookie value
	path     []byte // "; Path=/code" of the Set-Cookie value
	// Schedule, in Unix nanoseconds; 0 means unbounded.
	notBefore, notAfter int64
	before, after       *target // nil: 404 before, 410 after, with these pages
	beforePage          []byte  // "not live yet", with the start time
	afterPage           []byte  // "ended", with the end time
	// gone is the link's gone_url (nil: the deployment's): where visitors
	// go while it is disabled or past its scan limit.
	gone *target
	// The scan limit (max_scans; 0: none); reached is the server's mark.
	maxScans  int64
	limitBots bool  // bots' scans count too
	reached   bool  // the server saw the limit reached
	created   int64 // the link's creation time: with its key, its identity
	noStore   bool  // protected or limited: its answers are never cached
	// password is the argon2id hash of a protected link ("" for others),
	// pwCookie the name of its cookie.
	password string
	pwCookie string
}

// compileBound compiles one bound of a schedule: its time (0: none), and
// where a scan outside it goes: url when set, else a page of title and
// text with the time.
func compileBound(at *time.Time, url string, forwardQuery bool, title, text string) (int64, *target, []byte) {
	if at == nil {
		return 0, nil, nil
	}
	if t := optionalTarget(url, forwardQuery); t != nil {
		return at.UnixNano(), t, nil
	}
	return at.UnixNano(), nil, schedulePage(title, text, *at)
}

// optionalTarget compiles url, or returns nil when it is empty.
func optionalTarget(url string, forwardQuery bool) *target {
	if url == "" {
		return nil
	}
	t := compileTarget([]byte(url), forwardQuery)
	return &t
}

// schedulePage is the page of a scheduled link without a URL for its
// time: before it starts (404) or after it ends (410). It names the time
// in UTC (and in the visitor's zone, for a browser that reads <time>).
func schedulePage(title, text string, at time.Time) []byte {
	at = at.UTC()
	return []byte("<!doctype html><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">" +
		"<title>" + title + "</title><h1>" + title + "</h1><p>" + text + " <time datetime=\"" + at.Format(time.RFC3339) + "\">" +
		at.Format("Monday 2 January 2006, 15:04 MST") + "</time>.</p>\n")
}

// noLogic is the logic of plain links when code that handles any link
// (Explain) needs one.
var noLogic = &linkLogic{}

// target is a destination URL split for query forwarding.
type target struct {
	location  []byte     // the whole URL, as the Location header
	pathEnd   int32      // location[:pathEnd] is the URL before '?' (or '#')
	fragStart int32      // location[fragStart:] is "#...", when fragStart > 0
	pairs     []destPair // the query's pairs (views into location), only for forwarding links
}

func (t *target) path() []byte { return t.location[:t.pathEnd] }

func (t *target) fragment() []byte {
	if t.fragStart == 0 {
		return nil
	}
	return t.location[t.fragStart:]
}

type destPair struct {
	raw []byte // "k=v" as in the URL
	key string // k, percent-decoded
}

// compileTarget splits the URL loc; path, pairs and fragment are views
// into it.
func compileTarget(loc []byte, forward bool) target {
	t := target{location: loc}
	base := loc
	for i, c := range loc {
		if c == '#' {
			base, t.fragStart = loc[:i], int32(i)
			break
		}
	}
	path, query := base, []byte(nil)
	for i, c := range base {
		if c == '?' {
			path, query = base[:i], base[i+1:]
			break
		}
	}
	t.pathEnd = int32(len(path))
	if !forward {
		return t // pairs are only needed to merge a forwarded query
	}
	for len(query) > 0 {
		var pair []byte
		pair, query = cut(query, '&')
		if len(pair) == 0 {
			continue
		}
		k, _ := cut(pair, '=')
		key, err := url.QueryUnescape(string(k))
		if err != nil {
			key = string(k)
		}
		t.pairs = append(t.pairs, destPair{raw: pair, key: key})
	}
	return t
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
	name      string // for events; "" when the rule has none
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
	label  string // the name again, for events
	weight uint64
	target target
}

// Compile prepares a validated link for the hot path.
func Compile(l *store.Link) *Link {
	key := l.Key()
	if len(key)+len(l.Destination) > math.MaxUint16 {
		// Validation bounds the code (64), domain (253) and destination
		// (2048): no stored link gets here.
		panic(fmt.Sprintf("BUG: link %q is too long to compile (%d bytes of key and destination)", l.Code, len(key)+len(l.Destination)))
	}
	var scratch [64]byte
	ext := store.AppendLinkExtras(scratch[:0], l)
	buf := make([]byte, 0, len(key)+len(l.Destination)+len(ext)) // exactly: the string keeps the capacity
	buf = append(append(append(buf, key...), l.Destination...), ext...)
	c := &Link{
		s:        unsafe.String(unsafe.SliceData(buf), len(buf)), // buf is not written again
		keyLen:   uint16(len(key)),
		codeLen:  uint16(len(l.Code)),
		destEnd:  uint16(len(key) + len(l.Destination)),
		version:  l.Version,
		status:   int16(l.Status),
		disabled: l.Disabled,
		forward:  l.ForwardQuery,
		scanWins: l.QueryPrecedence == store.QueryScanWins,
	}
	if c.status == 0 {
		c.status = store.DefaultStatus
	}
	var x linkLogic // on the stack: plain links need none of it
	for _, r := range l.Rules {
		cr := rule{target: compileTarget([]byte(r.Destination), l.ForwardQuery), name: r.Name}
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
		x.rules = append(x.rules, cr)
	}
	for _, v := range l.Variants {
		if v.Weight <= 0 {
			continue
		}
		x.variants = append(x.variants, variant{name: []byte(v.Name), label: v.Name, weight: uint64(v.Weight), target: compileTarget([]byte(v.Destination), l.ForwardQuery)})
		x.total += uint64(v.Weight)
	}
	if len(x.variants) > 0 {
		x.cookie = VariantCookiePrefix + l.Code
		x.cookieKV = []byte(x.cookie + "=")
		x.path = []byte("; Path=/" + l.Code)
	}
	if s := l.Schedule; s != nil {
		x.notBefore, x.before, x.beforePage = compileBound(s.NotBefore, s.BeforeURL, l.ForwardQuery, "Not live yet", "This link goes live on")
		x.notAfter, x.after, x.afterPage = compileBound(s.NotAfter, s.AfterURL, l.ForwardQuery, "This campaign has ended", "This link ended on")
	}
	x.gone = optionalTarget(l.GoneURL, l.ForwardQuery)
	x.maxScans, x.limitBots, x.reached = l.MaxScans, l.MaxScansIncludeBots, l.ScanLimitReachedAt != nil
	if x.maxScans > 0 && !l.CreatedAt.IsZero() {
		x.created = l.CreatedAt.UnixNano() // what the extras hold (store.ExtrasCreated)
	}
	x.noStore = l.PasswordHash != "" || x.maxScans > 0
	if l.PasswordHash != "" {
		x.password, x.pwCookie = l.PasswordHash, PasswordCookiePrefix+l.Code
		if x.path == nil {
			x.path = []byte("; Path=/" + l.Code)
		}
	}
	c.varies = len(x.rules) > 0 || len(x.variants) > 0
	c.plain = !c.varies && !c.disabled && l.Schedule == nil && x.password == "" && x.maxScans == 0 && !x.reached
	if c.forward || !c.plain {
		c.linkExt = &linkExt{}
	}
	if c.forward {
		t := compileTarget(c.location(), true)
		c.pathEnd, c.fragStart, c.pairs = t.pathEnd, t.fragStart, t.pairs
	}
	if !c.plain {
		c.linkLogic = new(linkLogic)
		*c.linkLogic = x
	}
	return c
}

// VariantCookiePrefix starts the name of every sticky-variant cookie; the
// code follows, so each link keeps its own assignment.
const VariantCookiePrefix = "qv_"
