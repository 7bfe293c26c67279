package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unsafe"
)

// The binary form of a link: compact, with no field names, for the places
// that hold many links at once (an edge's table keeps every link's
// extras in it, and exports them from there).
//
//	link   = format(1) uvarint(version) str(code) str(domain) str(destination) extras
//	extras = uvarint(status) byte(flags) [str(query_precedence)] [varint(created)] [varint(updated-created)]
//	         [list(tags)] [str(title) str(notes)] [uvarint(n) n*rule] [uvarint(n) n*variant] schedule [more]
//	str    = uvarint(len) bytes;  list = uvarint(n) n*str
//	rule   = list(device) list(country) list(lang) map(query) map(header) map(cookie) str(destination)
//	map    = uvarint(n) n*(str(key) str(value)), keys sorted
//	variant  = str(name) str(destination) uvarint(weight)
//	schedule = byte(has not_before | has not_after<<1 | has schedule<<2 | has more<<3)
//	           [[varint(not_before)] str(before_url) [varint(not_after)] str(after_url)]
//	more     = byte(more flags) [str(gone_url)] [uvarint(max_scans)] [varint(scan_limit_reached)]
//	           [str(password_hash)] [list(rule names)]
//
// Times are Unix nanoseconds in UTC; the flags say which optional parts
// follow. A decoder refuses trailing bytes, unknown flags and lengths past
// the end, so a damaged record is an error, never a wrong link.

// linkFormat is the first byte of a whole link's binary form.
const linkFormat = 1

const (
	flagForward    = 1 << iota // ForwardQuery
	flagDisabled               // Disabled
	flagPrecedence             // str(query_precedence) follows the flags
	flagCreated                // CreatedAt is set
	flagUpdated                // UpdatedAt is set
	flagTags                   // tags follow
	flagLogic                  // rules, variants and a schedule follow (and more, see moreFlags)
	flagMeta                   // str(title) str(notes) follow the tags
	flagsKnown     = flagMeta<<1 - 1
)

// The flags of the optional last part of the logic: what only a few links
// have that a redirect needs. Links written before it have none.
const (
	moreGone      = 1 << iota // str(gone_url)
	moreMaxScans              // uvarint(max_scans)
	moreBots                  // MaxScansIncludeBots
	moreReached               // varint(scan_limit_reached)
	morePassword              // str(password_hash)
	moreRuleNames             // list(rule names), one per rule
	moreKnown     = moreRuleNames<<1 - 1
)

// moreFlags returns the flags of l's last part of the logic.
func moreFlags(l *Link) byte {
	var f byte
	if l.GoneURL != "" {
		f |= moreGone
	}
	if l.MaxScans > 0 {
		f |= moreMaxScans
	}
	if l.MaxScansIncludeBots {
		f |= moreBots
	}
	if l.ScanLimitReachedAt != nil {
		f |= moreReached
	}
	if l.PasswordHash != "" {
		f |= morePassword
	}
	for i := range l.Rules {
		if l.Rules[i].Name != "" {
			f |= moreRuleNames
		}
	}
	return f
}

// ErrBadLinkBinary is wrapped by every decoding error.
var ErrBadLinkBinary = errors.New("damaged binary link")

// AppendLinkBinary appends the whole binary form of l to dst.
func AppendLinkBinary(dst []byte, l *Link) []byte {
	dst = AppendLinkHead(dst, l.Version, l.Code, l.Domain, l.Destination)
	return AppendLinkExtras(dst, l)
}

// AppendLinkHead appends the start of a link's binary form, up to its
// extras: with AppendLinkExtras's bytes after it, the whole form. A
// holder that keeps the extras as they are (an edge's table) writes a
// link with it without decoding them.
func AppendLinkHead(dst []byte, version uint64, code, domain, destination string) []byte {
	dst = append(dst, linkFormat)
	dst = binary.AppendUvarint(dst, version)
	dst = appendStr(dst, code)
	dst = appendStr(dst, domain)
	return appendStr(dst, destination)
}

// DecodeLinkBinary decodes what AppendLinkBinary wrote.
func DecodeLinkBinary(b []byte) (*Link, error) {
	d := decoder{b: b}
	if d.byte() != linkFormat {
		return nil, fmt.Errorf("%w: unknown format", ErrBadLinkBinary)
	}
	l := &Link{Version: d.uvarint()}
	l.Code, l.Domain, l.Destination = d.str(), d.str(), d.str()
	if d.err != nil {
		return nil, d.err
	}
	if err := DecodeLinkExtras(l, d.b); err != nil {
		return nil, err
	}
	return l, nil
}

// AppendLinkExtras appends everything of l but its code, domain,
// destination and version: what a holder of those four needs to rebuild
// the link.
func AppendLinkExtras(dst []byte, l *Link) []byte {
	dst = binary.AppendUvarint(dst, uint64(max(l.Status, 0)))
	var flags byte
	if l.ForwardQuery {
		flags |= flagForward
	}
	if l.Disabled {
		flags |= flagDisabled
	}
	if l.QueryPrecedence != "" {
		flags |= flagPrecedence
	}
	if !l.CreatedAt.IsZero() {
		flags |= flagCreated
	}
	if !l.UpdatedAt.IsZero() {
		flags |= flagUpdated
	}
	if len(l.Tags) > 0 {
		flags |= flagTags
	}
	more := moreFlags(l)
	if len(l.Rules) > 0 || len(l.Variants) > 0 || l.Schedule != nil || more != 0 {
		flags |= flagLogic
	}
	if l.Title != "" || l.Notes != "" {
		flags |= flagMeta
	}
	dst = append(dst, flags)
	if flags&flagPrecedence != 0 {
		dst = appendStr(dst, l.QueryPrecedence)
	}
	if flags&flagCreated != 0 {
		dst = binary.AppendVarint(dst, l.CreatedAt.UnixNano())
	}
	if flags&flagUpdated != 0 {
		dst = binary.AppendVarint(dst, l.UpdatedAt.UnixNano()-createdNanos(l))
	}
	if flags&flagTags != 0 {
		dst = appendList(dst, l.Tags)
	}
	if flags&flagMeta != 0 {
		dst = appendStr(appendStr(dst, l.Title), l.Notes)
	}
	if flags&flagLogic == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Rules)))
	for i := range l.Rules {
		r := &l.Rules[i]
		dst = appendList(dst, r.When.Device)
		dst = appendList(dst, r.When.Country)
		dst = appendList(dst, r.When.Lang)
		dst = appendMap(dst, r.When.Query)
		dst = appendMap(dst, r.When.Header)
		dst = appendMap(dst, r.When.Cookie)
		dst = appendStr(dst, r.Destination)
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Variants)))
	for _, v := range l.Variants {
		dst = appendStr(dst, v.Name)
		dst = appendStr(dst, v.Destination)
		dst = binary.AppendUvarint(dst, uint64(max(v.Weight, 0)))
	}
	var sflags byte
	s := l.Schedule
	if s != nil {
		sflags = 4
		if s.NotBefore != nil {
			sflags |= 1
		}
		if s.NotAfter != nil {
			sflags |= 2
		}
	}
	if more != 0 {
		sflags |= 8
	}
	dst = append(dst, sflags)
	if s != nil {
		if s.NotBefore != nil {
			dst = binary.AppendVarint(dst, s.NotBefore.UnixNano())
		}
		dst = appendStr(dst, s.BeforeURL)
		if s.NotAfter != nil {
			dst = binary.AppendVarint(dst, s.NotAfter.UnixNano())
		}
		dst = appendStr(dst, s.AfterURL)
	}
	if more == 0 {
		return dst
	}
	dst = append(dst, more)
	if more&moreGone != 0 {
		dst = appendStr(dst, l.GoneURL)
	}
	if more&moreMaxScans != 0 {
		dst = binary.AppendUvarint(dst, uint64(l.MaxScans))
	}
	if more&moreReached != 0 {
		dst = binary.AppendVarint(dst, l.ScanLimitReachedAt.UnixNano())
	}
	if more&morePassword != 0 {
		dst = appendStr(dst, l.PasswordHash)
	}
	if more&moreRuleNames != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(l.Rules)))
		for i := range l.Rules {
			dst = appendStr(dst, l.Rules[i].Name)
		}
	}
	return dst
}

// ExtrasCreated returns the creation time (Unix nanoseconds) held in a
// link's extras (AppendLinkExtras), or 0 when they hold none or are
// damaged: with the link's domain and code, its identity. It reads only
// the few bytes before the time.
func ExtrasCreated(extras string) int64 {
	d := decoder{b: unsafe.Slice(unsafe.StringData(extras), len(extras))}
	_, _, _, created := d.head()
	if d.err != nil {
		return 0
	}
	return created
}

// ExtrasTags returns the tags held in a link's extras (AppendLinkExtras),
// or nil when they hold none or are damaged. It reads only the bytes up to
// the tags.
func ExtrasTags(extras string) []string {
	d := decoder{b: unsafe.Slice(unsafe.StringData(extras), len(extras))}
	_, flags, _, _ := d.head()
	if flags&flagUpdated != 0 {
		d.varint()
	}
	var tags []string
	if flags&flagTags != 0 {
		tags = d.list()
	}
	if d.err != nil {
		return nil
	}
	return tags
}

// head reads the extras up to the creation time: the status, the flags,
// the query precedence's bytes and the creation time (0 without one).
func (d *decoder) head() (status uint64, flags byte, precedence []byte, created int64) {
	status = d.uvarint()
	flags = d.byte()
	if flags&flagPrecedence != 0 {
		precedence = d.bytes()
	}
	if flags&flagCreated != 0 {
		created = d.varint()
	}
	return status, flags, precedence, created
}

func createdNanos(l *Link) int64 {
	if l.CreatedAt.IsZero() {
		return 0
	}
	return l.CreatedAt.UnixNano()
}

// DecodeLinkExtras fills l's fields but code, domain, destination and
// version from what AppendLinkExtras wrote.
func DecodeLinkExtras(l *Link, b []byte) error {
	d := decoder{b: b}
	st, flags, precedence, created := d.head()
	if st > math.MaxInt16 {
		d.fail("status")
	}
	if flags&^flagsKnown != 0 {
		d.fail("flags")
	}
	l.Status = int(st)
	l.ForwardQuery = flags&flagForward != 0
	l.Disabled = flags&flagDisabled != 0
	l.QueryPrecedence = string(precedence)
	if flags&flagCreated != 0 {
		l.CreatedAt = time.Unix(0, created).UTC()
	}
	if flags&flagUpdated != 0 {
		l.UpdatedAt = time.Unix(0, created+d.varint()).UTC()
	}
	if flags&flagTags != 0 {
		l.Tags = d.list()
	}
	if flags&flagMeta != 0 {
		l.Title, l.Notes = d.str(), d.str()
	}
	if flags&flagLogic != 0 {
		if n := d.count(); n > 0 {
			l.Rules = make([]Rule, n)
			for i := range l.Rules {
				r := &l.Rules[i]
				r.When.Device, r.When.Country, r.When.Lang = d.list(), d.list(), d.list()
				r.When.Query, r.When.Header, r.When.Cookie = d.strMap(), d.strMap(), d.strMap()
				r.Destination = d.str()
			}
		}
		if n := d.count(); n > 0 {
			l.Variants = make([]Variant, n)
			for i := range l.Variants {
				v := &l.Variants[i]
				v.Name, v.Destination = d.str(), d.str()
				w := d.uvarint()
				if w > math.MaxInt32 {
					d.fail("weight")
				}
				v.Weight = int(w)
			}
		}
		sflags := d.byte()
		if sflags&^15 != 0 || sflags&3 != 0 && sflags&4 == 0 {
			d.fail("schedule flags")
		}
		if sflags&4 != 0 {
			s := &Schedule{}
			if sflags&1 != 0 {
				t := time.Unix(0, d.varint()).UTC()
				s.NotBefore = &t
			}
			s.BeforeURL = d.str()
			if sflags&2 != 0 {
				t := time.Unix(0, d.varint()).UTC()
				s.NotAfter = &t
			}
			s.AfterURL = d.str()
			l.Schedule = s
		}
		if sflags&8 != 0 {
			d.more(l)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// more reads the last part of the logic (moreFlags).
func (d *decoder) more(l *Link) {
	f := d.byte()
	if f == 0 || f&^moreKnown != 0 {
		d.fail("flags of the logic's last part")
		return
	}
	if f&moreGone != 0 {
		l.GoneURL = d.str()
	}
	if f&moreMaxScans != 0 {
		n := d.uvarint()
		if n == 0 || n > math.MaxInt64 {
			d.fail("max_scans")
		}
		l.MaxScans = int64(n)
	}
	l.MaxScansIncludeBots = f&moreBots != 0
	if f&moreReached != 0 {
		t := time.Unix(0, d.varint()).UTC()
		l.ScanLimitReachedAt = &t
	}
	if f&morePassword != 0 {
		l.PasswordHash = d.str()
	}
	if f&moreRuleNames != 0 {
		if d.count() != len(l.Rules) {
			d.fail("rule names")
			return
		}
		for i := range l.Rules {
			l.Rules[i].Name = d.str()
		}
	}
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendList(dst []byte, l []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(l)))
	for _, s := range l {
		dst = appendStr(dst, s)
	}
	return dst
}

func appendMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendStr(dst, k)
		dst = appendStr(dst, m[k])
	}
	return dst
}

// decoder reads the binary form; the first error sticks and every later
// read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrBadLinkBinary, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("length")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varint reads a zig-zag encoded signed number, as binary.Varint does.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count reads a number of items, each at least one byte long, so a
// damaged count cannot make the decoder allocate more than the input.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string { return string(d.bytes()) }

// bytes reads a length-prefixed run of bytes, without a copy.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) list() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

// PlainBinary is the head of a link's binary form: what a holder of many
// links needs to keep a plain one without decoding the rest. Code, Domain
// and Destination are views of the bytes given to ParsePlainBinary.
type PlainBinary struct {
	Version                   uint64
	Code, Domain, Destination []byte
	// Extras is everything after the destination (AppendLinkExtras).
	Extras []byte
	Status int
	// Plain is true when the link has no rules, variants or schedule, is
	// not disabled and does not forward the query: its head is all a
	// redirect needs.
	Plain bool
}

// ParsePlainBinary parses the head of a link's binary form
// (AppendLinkBinary). Only the head is checked; a link that is not Plain
// must be decoded in full (DecodeLinkBinary).
func ParsePlainBinary(b []byte) (PlainBinary, error) {
	d := decoder{b: b}
	if d.byte() != linkFormat {
		return PlainBinary{}, fmt.Errorf("%w: unknown format", ErrBadLinkBinary)
	}
	p := PlainBinary{Version: d.uvarint()}
	p.Code, p.Domain, p.Destination = d.bytes(), d.bytes(), d.bytes()
	p.Extras = d.b
	status := d.uvarint()
	flags := d.byte()
	if d.err != nil {
		return PlainBinary{}, d.err
	}
	if flags&^flagsKnown != 0 || status > math.MaxInt16 {
		return PlainBinary{}, fmt.Errorf("%w: unknown flags or status", ErrBadLinkBinary)
	}
	p.Status = int(status)
	p.Plain = flags&(flagForward|flagDisabled|flagLogic) == 0
	return p, nil
}
