package store

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
)

// DestinationPolicy is what an operator allows links to point to, on top of
// Validate: destinations on denied hosts or under denied URL prefixes are
// refused, as are destinations on the service's own short domains (a
// redirect loop) and, when RefuseHTTP is set, plain http ones.
//
// The zero policy (and a nil one) refuses nothing. The policy applies to
// writes only: links already stored are reported by Scan, never changed.
type DestinationPolicy struct {
	// Deny lists the denied hosts and URL prefixes, from ParseDenyList.
	Deny []DenyPattern
	// SelfHosts are the service's own short domains: "host" (any port) or
	// "host:port" (that port only, 80 and 443 standing for no port).
	SelfHosts []SelfHost
	// RefuseHTTP refuses http: destinations (--allow-http=false).
	RefuseHTTP bool

	violations atomic.Int64 // found by the last Scan
}

// SelfHost is one of the service's own short domains.
type SelfHost struct {
	Host   string // lower case, without trailing dot
	Port   string // "" for any port
	Source string // where it was configured, such as "--public-url"
}

// ParseSelfHost parses "host" or "host:port" into a SelfHost from source.
// The host is a host name, an IPv4 address in any spelling browsers read
// (stored in dotted decimal) or an IPv6 address in brackets.
func ParseSelfHost(s, source string) (SelfHost, error) {
	host, port, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return SelfHost{}, fmt.Errorf("%q: an IPv6 address needs its closing ']'", s)
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return SelfHost{}, fmt.Errorf("%q: want [IPv6 address] or [IPv6 address]:port", s)
			}
			port, hasPort = port[1:], true
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port, hasPort = s[:i], s[i+1:], true
	}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
			return SelfHost{}, fmt.Errorf("%q: want a host name, or host:port with a port from 1 to 65535", s)
		}
	}
	if host == "" {
		return SelfHost{}, fmt.Errorf("%q: must not be empty", s)
	}
	h, msg := readHost(host)
	if msg == "" && !h.ipv4 && !strings.HasPrefix(h.key, "[") {
		msg = CheckDomain(h.key)
	}
	if msg != "" {
		return SelfHost{}, fmt.Errorf("%q: %s", s, msg)
	}
	return SelfHost{Host: h.key, Port: webPort(port), Source: source}, nil
}

// DenyPattern is one entry of a deny list. It is a host pattern, which
// matches a host and all its subdomains ("evil.example"), only its
// subdomains ("*.evil.example"), or hosts that match label by label with
// '*' standing for any run of characters within one label
// ("login-*.example"); or it is a URL prefix ("https://docs.google.com/forms/"),
// which matches the destinations on that very host whose path starts with
// the prefix's path.
type DenyPattern struct {
	Entry  string // as configured
	Source string // where it was configured, such as "--deny-destinations"

	labels  []string // host pattern labels; for a URL prefix, nil
	subOnly bool     // "*." prefix: subdomains only
	host    string   // URL prefix: its host
	path    string   // URL prefix: its normalised path
}

// ParseDenyList parses deny list entries, each a host pattern or a URL
// prefix (see DenyPattern), with Source "--deny-destinations". Entries are
// trimmed; empty ones are skipped. The error names the first bad entry.
func ParseDenyList(entries []string) ([]DenyPattern, error) {
	var out []DenyPattern
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, err := ParseDenyPattern(e)
		if err != nil {
			return nil, err
		}
		p.Source = "--deny-destinations"
		out = append(out, p)
	}
	return out, nil
}

// ParseDenyPattern parses one deny list entry.
func ParseDenyPattern(entry string) (DenyPattern, error) {
	p := DenyPattern{Entry: entry}
	bad := func(format string, args ...any) (DenyPattern, error) {
		return DenyPattern{}, fmt.Errorf("deny entry %q: %s", entry, fmt.Sprintf(format, args...))
	}
	for i := 0; i < len(entry); i++ {
		if c := entry[i]; c <= ' ' || c >= 0x7f {
			return bad("only printable ASCII without spaces: use punycode (xn--) for international domain names")
		}
	}
	if strings.Contains(entry, "://") {
		u, err := url.Parse(entry)
		if err != nil {
			return bad("not a valid URL prefix")
		}
		scheme := strings.ToLower(u.Scheme)
		switch {
		case scheme != "http" && scheme != "https":
			return bad("a URL prefix must start with http:// or https://")
		case u.User != nil:
			return bad("a URL prefix must not contain user information")
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			return bad("a URL prefix is a scheme, a host and a path, without query or fragment")
		case strings.Contains(u.Hostname(), "*"):
			return bad("a URL prefix takes no wildcards: deny the host pattern instead")
		}
		h, msg := readHost(urlHost(u))
		if msg == "" && !h.ipv4 {
			msg = CheckDomain(h.key)
		}
		if msg != "" || h.key == "" {
			return bad("the host of a URL prefix must be a host name such as docs.google.com, or an IPv4 address")
		}
		p.host = h.key
		p.path = normPath(u.Path)
		return p, nil
	}
	if strings.ContainsAny(entry, "/:?#@[]") {
		return bad("want a host pattern such as evil.example, *.evil.example or login-*.example, or a URL prefix such as https://docs.google.com/forms/")
	}
	h := normHost(entry)
	if !strings.Contains(h, "*") && endsInNumber(h) {
		// An IPv4 address, in any spelling: compared in dotted decimal.
		a, ok := parseWebIPv4(h)
		if !ok {
			return bad("ends in a number but is not an IPv4 address")
		}
		h = formatIPv4(a)
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		h, p.subOnly = rest, true
	}
	p.labels = strings.Split(h, ".")
	allStars := true
	for _, l := range p.labels {
		if l == "" {
			return bad("empty label: want a host pattern such as evil.example")
		}
		if len(l) > 63 {
			return bad("label %q is longer than 63 characters", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*') {
				return bad("invalid character %q in a host pattern: use letters, digits, '-', '_' and '*'", rune(c))
			}
		}
		if strings.Trim(l, "*") != "" {
			allStars = false
		}
	}
	if allStars {
		return bad("would deny every destination")
	}
	return p, nil
}

// matchHost reports whether the normalised host matches p, a host pattern:
// its last labels match the pattern's, and it has more labels when p is
// "*."-prefixed.
func (p *DenyPattern) matchHost(host string) bool {
	for i := len(p.labels) - 1; i >= 0; i-- {
		if host == "" {
			return false // fewer labels than the pattern
		}
		j := strings.LastIndexByte(host, '.')
		if !globLabel(p.labels[i], host[j+1:]) {
			return false
		}
		if j < 0 {
			host = ""
		} else {
			host = host[:j]
		}
	}
	return host != "" || !p.subOnly
}

// globLabel reports whether label matches pattern, where '*' matches any
// run of characters, in time proportional to len(pattern)*len(label).
func globLabel(pattern, label string) bool {
	px, lx := 0, 0
	starPx, starLx := -1, 0
	for px < len(pattern) || lx < len(label) {
		if px < len(pattern) {
			c := pattern[px]
			if c == '*' {
				starPx, starLx = px, lx+1
				px++
				continue
			}
			if lx < len(label) && label[lx] == c {
				px++
				lx++
				continue
			}
		}
		if starPx >= 0 && starLx <= len(label) {
			px, lx = starPx+1, starLx
			starLx++
			continue
		}
		return false
	}
	return true
}

// match reports whether the destination (host, path) matches p.
func (p *DenyPattern) match(host, cleanPath string) bool {
	if p.labels != nil {
		return p.matchHost(host)
	}
	if host != p.host {
		return false
	}
	if strings.HasPrefix(cleanPath, p.path) {
		return true
	}
	// "/forms/" also denies "/forms", which redirects there.
	return strings.HasSuffix(p.path, "/") && cleanPath == strings.TrimSuffix(p.path, "/")
}

// MatchHost reports whether a destination on host (and path) is denied by
// p. It is exported for tests and fuzzing.
func (p *DenyPattern) MatchHost(host, urlPath string) bool {
	return p.match(normHost(host), normPath(urlPath))
}

// normHost lower-cases a host and strips its trailing dots.
func normHost(h string) string {
	return strings.TrimRight(strings.ToLower(h), ".")
}

// normPath turns a decoded URL path into the form prefixes are compared
// in: lower case, dot segments and repeated slashes removed (browsers and
// servers do the same), a trailing slash kept.
func normPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return strings.ToLower(c)
}

// Check returns the policy's objections to l's destinations (destination,
// each rule's, each variant's, the schedule's before_url and after_url,
// gone_url),
// each naming the field as Validate does. Call it after Validate: URLs
// that do not parse are left to Validate. A link's own domain counts as
// one of the service's short domains.
func (p *DestinationPolicy) Check(l *Link) []FieldError {
	if p == nil {
		return nil
	}
	var out []FieldError
	check := func(field, dest string) {
		if dest == "" {
			return
		}
		if msg := p.checkURL(dest, l.Domain); msg != "" {
			out = append(out, FieldError{Field: field, Message: msg})
		}
	}
	check("destination", l.Destination)
	check("gone_url", l.GoneURL)
	for i := range l.Rules {
		check(fmt.Sprintf("rules[%d].destination", i), l.Rules[i].Destination)
	}
	for i := range l.Variants {
		check(fmt.Sprintf("variants[%d].destination", i), l.Variants[i].Destination)
	}
	if s := l.Schedule; s != nil {
		check("schedule.before_url", s.BeforeURL)
		check("schedule.after_url", s.AfterURL)
	}
	return out
}

// ValidateLink validates l and then checks it against the policy: what
// every write of a link goes through. A nil policy only validates.
func (p *DestinationPolicy) ValidateLink(l *Link) error {
	if err := l.Validate(); err != nil {
		return err
	}
	return p.Err(l)
}

// Err is Check as an EINVALID *Error, or nil.
func (p *DestinationPolicy) Err(l *Link) error {
	if fe := p.Check(l); len(fe) > 0 {
		return &Error{Code: EINVALID, Message: "destination refused by policy", Fields: fe}
	}
	return nil
}

func (p *DestinationPolicy) checkURL(dest, linkDomain string) string {
	u, err := url.Parse(dest)
	if err != nil || u.Host == "" {
		return "" // Validate's to report
	}
	// Hosts and ports are compared as a browser reads them: 0x7f.1 and
	// [::ffff:127.0.0.1] are 127.0.0.1, port 018080 is 18080. Hosts that
	// browsers refuse, or that Validate refuses as spelt, still have
	// their reading checked here, for links stored before.
	h, _ := readHost(urlHost(u))
	if h.key == "" {
		return "" // Validate's to report
	}
	host, port := h.key, webPort(u.Port())
	shown := fmt.Sprintf("%q", u.Host)
	if host != normHost(urlHost(u)) || port != "" && port != u.Port() {
		reads := host
		if port != "" {
			reads += ":" + port
		}
		shown += " (" + reads + " to a browser)"
	}
	if p.RefuseHTTP && strings.EqualFold(u.Scheme, "http") {
		return "http: destinations are refused (--allow-http=false): use https://"
	}
	if linkDomain != "" && host == linkDomain {
		return fmt.Sprintf("host %q is the link's own domain: it would redirect to this service itself: a redirect loop", host)
	}
	for _, s := range p.SelfHosts {
		if host == s.Host && (s.Port == "" || s.Port == port) {
			return fmt.Sprintf("host %s is in %s: it would redirect to this service itself: a redirect loop", shown, s.Source)
		}
	}
	if len(p.Deny) == 0 {
		return ""
	}
	clean := "" // the path, normalised for the first URL prefix
	for i := range p.Deny {
		d := &p.Deny[i]
		if d.labels == nil && clean == "" {
			clean = normPath(u.Path)
		}
		if d.match(host, clean) {
			if d.labels != nil {
				return fmt.Sprintf("host %q is denied by %q in %s", host, d.Entry, d.Source)
			}
			return fmt.Sprintf("%q is denied by %q in %s", dest, d.Entry, d.Source)
		}
	}
	return ""
}

// Violation is a stored link's destination that the policy refuses.
type Violation struct {
	Code   string `json:"code"`
	Domain string `json:"domain,omitempty"`
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Scan checks every link forEach yields against the policy and calls fn
// (when not nil) for each violation. It counts the links with at least one
// violation; Violations returns that count until the next Scan.
func (p *DestinationPolicy) Scan(ctx context.Context, forEach func(context.Context, func(*Link) error) error, fn func(Violation)) (links int, err error) {
	if p == nil {
		return 0, nil // no policy: nothing can violate it
	}
	err = forEach(ctx, func(l *Link) error {
		fe := p.Check(l)
		if len(fe) > 0 {
			links++
		}
		if fn != nil {
			for _, f := range fe {
				fn(Violation{Code: l.Code, Domain: l.Domain, Field: f.Field, Detail: f.Message})
			}
		}
		return nil
	})
	if err == nil {
		p.violations.Store(int64(links))
	}
	return links, err
}

// Violations returns the number of links the last complete Scan found at
// fault.
func (p *DestinationPolicy) Violations() int64 {
	if p == nil {
		return 0
	}
	return p.violations.Load()
}
