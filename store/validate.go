package store

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the link model.
const (
	MaxCodeLen        = 64
	MaxURLLen         = 2048
	MaxDomainLen      = 253
	MaxRules          = 32
	MaxVariants       = 16
	MaxVariantWeight  = 10000
	MaxTags           = 32
	MaxTagLen         = 64
	MaxMatchEntries   = 16
	MaxMatchValueLen  = 256
	MaxVariantNameLen = 32
	MaxRuleNameLen    = 32
	MaxTitleLen       = 200
	MaxNotesLen       = 4000
	MaxScansLimit     = 1_000_000_000_000
	maxMatchList      = 64 // entries of a rule's device, country or lang
)

// reserved codes collide with the paths qredge serves itself. They are
// refused whatever their case, so that /API and /api are never confused.
var reserved = map[string]bool{
	"api": true, "healthz": true, "readyz": true, "livez": true, "metrics": true,
	"debug": true, "admin": true, "static": true, "assets": true, "ui": true,
}

// IsReservedCode reports whether code is refused because qredge serves that
// path itself.
func IsReservedCode(code string) bool {
	return reserved[strings.ToLower(code)]
}

// ValidCodeChar reports whether c may appear in a code: [A-Za-z0-9_-].
func ValidCodeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// IsValidCodeBytes is the allocation-free syntax check used by the hot path:
// 1-64 characters of [A-Za-z0-9_-]. It does not check reserved words.
func IsValidCodeBytes(b []byte) bool {
	if len(b) == 0 || len(b) > MaxCodeLen {
		return false
	}
	for _, c := range b {
		if !ValidCodeChar(c) {
			return false
		}
	}
	return true
}

// charAt names the character that starts at byte i of s for a message:
// "character 'é'" with the whole UTF-8 character, never its first byte
// read as Latin-1, or "byte %C3 (not UTF-8)" for a byte that starts no
// valid character.
func charAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte %%%02X (not UTF-8)", s[i])
	}
	return fmt.Sprintf("character %q", r)
}

// CheckCode returns why code is not a valid link code, or "" if it is.
func CheckCode(code string) string {
	switch {
	case code == "":
		return "must not be empty"
	case len(code) > MaxCodeLen:
		return fmt.Sprintf("must be at most %d characters, got %d", MaxCodeLen, len(code))
	}
	for i := 0; i < len(code); i++ {
		if !ValidCodeChar(code[i]) {
			return fmt.Sprintf("invalid %s at position %d: only A-Z, a-z, 0-9, '_' and '-' are allowed", charAt(code, i), i)
		}
	}
	if IsReservedCode(code) {
		return fmt.Sprintf("%q is reserved", code)
	}
	return ""
}

// CheckURL returns why s is not an acceptable redirect destination, or "" if
// it is: an absolute http or https URL of at most 2048 bytes, printable
// ASCII only, with no user information and a host browsers accept and read
// as written: a DNS host name (labels of letters, digits, '-' and '_', not
// empty, not starting or ending with '-', at most 63 bytes each and 253 in
// all), an IPv4 address in dotted decimal or an IPv6 address (host.go).
func CheckURL(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > MaxURLLen {
		return fmt.Sprintf("must be at most %d bytes, got %d", MaxURLLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("control character at byte %d", i)
		}
		if c == ' ' {
			return fmt.Sprintf("space at byte %d: percent-encode it as %%20", i)
		}
		if c >= 0x80 {
			return fmt.Sprintf("non-ASCII byte at %d: percent-encode paths and use punycode for international domain names", i)
		}
	}
	lower := strings.ToLower(s)
	for _, bad := range []string{"javascript:", "data:", "vbscript:", "file:"} {
		if strings.HasPrefix(lower, bad) {
			return fmt.Sprintf("%s URLs are not allowed", strings.TrimSuffix(bad, ":"))
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error repeats the whole URL; its inner error is enough.
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return "not a valid URL: " + err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return "must be an absolute URL starting with http:// or https://"
		}
		return fmt.Sprintf("scheme %q is not allowed: use http or https", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "must have a host, as in https://example.com/path"
	}
	if u.User != nil {
		return "must not contain user information (user@host): it is a phishing vector"
	}
	if strings.HasSuffix(u.Host, ":") || u.Hostname() == "" {
		return "must have a host, as in https://example.com/path"
	}
	h, msg := readHost(urlHost(u))
	if msg != "" {
		return msg
	}
	if h.respelt {
		return fmt.Sprintf("host %q is the IPv4 address %s spelt another way: write %s", u.Hostname(), h.key, h.key)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("invalid port %q", p)
		}
	}
	return ""
}

// CheckDomain returns why d is not a valid short domain (a lower-case DNS
// host name without port), or "" if it is. The empty domain is valid: it
// means every host.
func CheckDomain(d string) string {
	if d == "" {
		return ""
	}
	if len(d) > MaxDomainLen {
		return fmt.Sprintf("must be at most %d characters", MaxDomainLen)
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return "must be a host name such as go.example.com (empty or over-long label)"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Sprintf("label %q must not start or end with '-'", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("invalid %s: a domain is a host name without scheme, port or path, such as go.example.com (punycode for international names)", charAt(label, i))
			}
		}
	}
	return ""
}

// CheckTag returns why t is not a valid tag, or "" if it is.
func CheckTag(t string) string {
	if t == "" {
		return "must not be empty"
	}
	if len(t) > MaxTagLen {
		return fmt.Sprintf("must be at most %d characters", MaxTagLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(ValidCodeChar(c) || c == '.' || c == ':' || c == '/') {
			return fmt.Sprintf("invalid %s: only A-Z, a-z, 0-9 and _ - . : / are allowed", charAt(t, i))
		}
	}
	return ""
}

// ValidStatus reports whether s is a redirect status a link may use.
func ValidStatus(s int) bool {
	return s == 301 || s == 302 || s == 307 || s == 308
}

// Normalize fills defaults and canonical forms in place: the status defaults
// to 302, the domain is lower-cased, countries upper-cased, languages
// lower-cased, schedule times converted to UTC, unnamed variants named by
// position. Validate also sorts tags and drops duplicates.
func (l *Link) Normalize() {
	if l.Status == 0 {
		l.Status = DefaultStatus
	}
	l.Domain = strings.ToLower(strings.TrimSuffix(l.Domain, "."))
	for i := range l.Rules {
		m := &l.Rules[i].When
		for j, c := range m.Country {
			m.Country[j] = strings.ToUpper(c)
		}
		for j, s := range m.Lang {
			m.Lang[j] = strings.ToLower(s)
		}
		for j, s := range m.Device {
			m.Device[j] = strings.ToLower(s)
		}
	}
	for i := range l.Variants {
		if l.Variants[i].Name == "" {
			l.Variants[i].Name = "v" + strconv.Itoa(i+1)
		}
	}
	if s := l.Schedule; s != nil {
		if s.NotBefore != nil {
			t := s.NotBefore.UTC()
			s.NotBefore = &t
		}
		if s.NotAfter != nil {
			t := s.NotAfter.UTC()
			s.NotAfter = &t
		}
	}
}

// sortTags sorts l.Tags and drops duplicates. Validate calls it last, so
// that errors name tags by their position in the input.
func (l *Link) sortTags() { l.Tags = sortedSet(l.Tags) }

// Validate normalizes l and checks every field of it, returning an *Error
// with code EINVALID that names each field at fault, or nil.
func (l *Link) Validate() error {
	l.Normalize()
	var v validator
	if msg := CheckCode(l.Code); msg != "" {
		v.add("code", msg)
	}
	if msg := CheckDomain(l.Domain); msg != "" {
		v.add("domain", msg)
	}
	v.url("destination", l.Destination)
	if l.QueryPrecedence != "" && l.QueryPrecedence != QueryDestinationWins && l.QueryPrecedence != QueryScanWins {
		v.add("query_precedence", fmt.Sprintf("must be %q or %q, got %q", QueryDestinationWins, QueryScanWins, l.QueryPrecedence))
	}
	if !ValidStatus(l.Status) {
		v.add("status", fmt.Sprintf("must be one of 301, 302, 307 or 308, got %d", l.Status))
	}
	if len(l.Rules) > MaxRules {
		v.add("rules", fmt.Sprintf("at most %d rules are allowed, got %d", MaxRules, len(l.Rules)))
	}
	ruleNames := map[string]bool{}
	for i := range l.Rules {
		v.rule(fmt.Sprintf("rules[%d]", i), &l.Rules[i])
		if n := l.Rules[i].Name; n != "" {
			if ruleNames[n] {
				v.add(fmt.Sprintf("rules[%d].name", i), fmt.Sprintf("%q is used by another rule", n))
			}
			ruleNames[n] = true
		}
	}
	v.variants(l.Variants)
	if l.Schedule != nil {
		v.schedule(l.Schedule)
	}
	if len(l.Tags) > MaxTags {
		v.add("tags", fmt.Sprintf("at most %d tags are allowed, got %d", MaxTags, len(l.Tags)))
	}
	for i, t := range l.Tags {
		if msg := CheckTag(t); msg != "" {
			v.add(fmt.Sprintf("tags[%d]", i), msg)
		}
	}
	v.text("title", l.Title, MaxTitleLen, false)
	v.text("notes", l.Notes, MaxNotesLen, true)
	if l.GoneURL != "" {
		v.url("gone_url", l.GoneURL)
	}
	switch {
	case l.MaxScans < 0 || l.MaxScans > MaxScansLimit:
		v.add("max_scans", fmt.Sprintf("must be between 1 and %d, or 0 for no limit; got %d", int64(MaxScansLimit), l.MaxScans))
	case l.MaxScansIncludeBots && l.MaxScans == 0:
		v.add("max_scans_include_bots", "needs max_scans")
	}
	v.password(l)
	if err := v.err(); err != nil {
		return err
	}
	l.sortTags()
	if l.Password != "" {
		l.PasswordHash, l.Password = HashPassword(l.Password), ""
	}
	return nil
}

// text checks a free text field: valid UTF-8, at most limit bytes, and
// no control characters but, when multiline, line breaks and tabs.
func (v *validator) text(field, s string, limit int, multiline bool) {
	switch {
	case len(s) > limit:
		v.add(field, fmt.Sprintf("must be at most %d bytes, got %d", limit, len(s)))
	case !utf8.ValidString(s):
		v.add(field, "must be valid UTF-8")
	default:
		for i := 0; i < len(s); i++ {
			if c := s[i]; (c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\r' || c == '\t')) {
				v.add(field, "must not contain control characters")
				return
			}
		}
	}
}

// password checks a link's password (plain, as a client writes it) or its
// hash (as an import or restore carries it).
func (v *validator) password(l *Link) {
	switch {
	case l.Password != "" && l.PasswordHash != "":
		v.add("password", "give password or password_hash, not both")
	case l.Password != "":
		if len(l.Password) < MinPasswordLen || len(l.Password) > MaxPasswordLen {
			v.add("password", fmt.Sprintf("must be %d to %d bytes long", MinPasswordLen, MaxPasswordLen))
		} else if !utf8.ValidString(l.Password) || HasControl(l.Password) {
			v.add("password", "must be valid UTF-8 without control characters")
		}
	case l.PasswordHash != "":
		if msg := CheckPasswordHash(l.PasswordHash); msg != "" {
			v.add("password_hash", msg)
		}
	}
}

type validator struct {
	fields []FieldError
}

func (v *validator) add(field, msg string) {
	v.fields = append(v.fields, FieldError{Field: field, Message: msg})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "invalid link", Fields: v.fields}
}

func (v *validator) url(field, s string) {
	if msg := CheckURL(s); msg != "" {
		v.add(field, msg)
	}
}

func (v *validator) rule(field string, r *Rule) {
	v.url(field+".destination", r.Destination)
	if r.Name != "" {
		if len(r.Name) > MaxRuleNameLen || !IsValidCodeBytes([]byte(r.Name)) {
			v.add(field+".name", fmt.Sprintf("must be 1 to %d characters of A-Z, a-z, 0-9, '_' and '-'", MaxRuleNameLen))
		}
	}
	m := &r.When
	if m.IsEmpty() {
		v.add(field+".when", "must have at least one condition (device, country, lang, query, header or cookie)")
	}
	w := field + ".when."
	v.list(w+"device", "entries", m.Device, maxMatchList, func(s string) string {
		switch s {
		case DeviceIOS, DeviceAndroid, DeviceDesktop, DeviceOther:
			return ""
		}
		return fmt.Sprintf("%q is not a device class: use ios, android, desktop or other", s)
	})
	v.list(w+"country", "entries", m.Country, maxMatchList, func(s string) string {
		if !IsCountryCode(s) {
			return fmt.Sprintf("%q is not an ISO 3166 alpha-2 code", s)
		}
		return ""
	})
	v.list(w+"lang", "entries", m.Lang, maxMatchList, func(s string) string {
		if len(s) < 2 || len(s) > 3 {
			return fmt.Sprintf("%q is not a primary language subtag (2 or 3 letters, such as en or de)", s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 'a' || s[i] > 'z' {
				return fmt.Sprintf("%q is not a primary language subtag (2 or 3 letters, such as en or de)", s)
			}
		}
		return ""
	})
	v.pairs(w+"query", m.Query, false)
	v.pairs(w+"header", m.Header, true)
	v.pairs(w+"cookie", m.Cookie, true)
}

// list checks a list of at most limit entries (what they are: noun),
// each with check, naming each entry at fault by its index.
func (v *validator) list(field, noun string, xs []string, limit int, check func(string) string) {
	if len(xs) > limit {
		v.add(field, fmt.Sprintf("at most %d %s are allowed, got %d", limit, noun, len(xs)))
		return
	}
	for i, s := range xs {
		if msg := check(s); msg != "" {
			v.add(fmt.Sprintf("%s[%d]", field, i), msg)
		}
	}
}

func (v *validator) pairs(field string, m map[string]string, token bool) {
	if len(m) > MaxMatchEntries {
		v.add(field, fmt.Sprintf("at most %d entries are allowed", MaxMatchEntries))
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fmt.Sprintf("%s[%q]", field, k)
		if k == "" || len(k) > 128 {
			v.add(f, "name must be 1 to 128 characters")
			continue
		}
		if token && !isToken(k) {
			v.add(f, "name must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
			continue
		}
		val := m[k]
		if val == "" {
			v.add(f, `value must not be empty; use "*" to match any value`)
		}
		if len(val) > MaxMatchValueLen {
			v.add(f, fmt.Sprintf("value must be at most %d bytes", MaxMatchValueLen))
		}
		if HasControl(k) || HasControl(val) {
			v.add(f, "must not contain control characters")
		}
	}
}

func (v *validator) variants(vs []Variant) {
	if len(vs) == 0 {
		return
	}
	if len(vs) == 1 {
		v.add("variants", "an A/B split needs at least two variants; use destination for a single one")
	}
	if len(vs) > MaxVariants {
		v.add("variants", fmt.Sprintf("at most %d variants are allowed, got %d", MaxVariants, len(vs)))
	}
	seen := map[string]bool{}
	for i, vr := range vs {
		f := fmt.Sprintf("variants[%d]", i)
		v.url(f+".destination", vr.Destination)
		if vr.Weight < 1 || vr.Weight > MaxVariantWeight {
			v.add(f+".weight", fmt.Sprintf("must be between 1 and %d, got %d", MaxVariantWeight, vr.Weight))
		}
		switch {
		case len(vr.Name) > MaxVariantNameLen:
			v.add(f+".name", fmt.Sprintf("must be at most %d characters", MaxVariantNameLen))
		case !IsValidCodeBytes([]byte(vr.Name)):
			v.add(f+".name", "only A-Z, a-z, 0-9, '_' and '-' are allowed")
		case seen[vr.Name]:
			v.add(f+".name", fmt.Sprintf("%q is used by another variant", vr.Name))
		}
		seen[vr.Name] = true
	}
}

func (v *validator) schedule(s *Schedule) {
	if s.NotBefore == nil && s.NotAfter == nil {
		v.add("schedule", "must set not_before, not_after or both")
	}
	if s.BeforeURL != "" {
		if s.NotBefore == nil {
			v.add("schedule.before_url", "needs schedule.not_before")
		} else {
			v.url("schedule.before_url", s.BeforeURL)
		}
	}
	if s.AfterURL != "" {
		if s.NotAfter == nil {
			v.add("schedule.after_url", "needs schedule.not_after")
		} else {
			v.url("schedule.after_url", s.AfterURL)
		}
	}
	if s.NotBefore != nil && s.NotAfter != nil && !s.NotAfter.After(*s.NotBefore) {
		v.add("schedule.not_after", "must be later than schedule.not_before")
	}
	for _, t := range []*time.Time{s.NotBefore, s.NotAfter} {
		if t != nil && (t.Year() < 2000 || t.Year() > 9999) {
			v.add("schedule", "times must fall between the years 2000 and 9999")
			break
		}
	}
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// HasControl reports whether s has an ASCII control character.
func HasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
