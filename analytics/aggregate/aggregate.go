// Package aggregate turns scan events into the counters that stats are
// read from, independent of where they are stored: the Redis aggregator
// (qredge analytics) and the embedded one (qredge serve) share the bucket
// arithmetic, the field names and the assembly of a stats answer here, so
// the two cannot disagree on what a number means. It does no I/O but for
// the Brake's admin endpoints and signals (brakeadmin.go).
package aggregate

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

// A bucket's counters are a map from field to count. Every field starts
// with the class of the scan, 'h' (human) or 'b' (bot), so that stats can
// leave bots out of every breakdown:
//
//	h, b          scans
//	hc:US         by country ("--" when unknown)
//	hd:ios        by device class
//	hr:host       by referrer host ("(direct)" when none)
//	ht:rule:0     by target: destination, rule:<n>, variant:<name>,
//	              not_yet_active, expired, disabled
//	hs:qr         by source: qr (the QR marker) or link
const (
	dimCountry  = 'c'
	dimDevice   = 'd'
	dimReferrer = 'r'
	dimTarget   = 't'
	dimSource   = 's'
)

// dimNames are the breakdowns of a stats answer, by field letter.
var dimNames = map[byte]string{dimCountry: "country", dimDevice: "device", dimReferrer: "referrer", dimTarget: "target", dimSource: "source"}

// SourceName names how a scan came: "qr" or "link".
func SourceName(source uint8) string {
	if source == analytics.SourceQR {
		return "qr"
	}
	return "link"
}

var deviceNames = [...]string{"unknown", "ios", "android", "desktop", "other"}

// DeviceName names a scan's device class: ios, android, desktop, other, or
// unknown (also for a class newer than this code).
func DeviceName(device uint8) string {
	if int(device) < len(deviceNames) {
		return deviceNames[device]
	}
	return "unknown"
}

// Retention is how long buckets of each granularity are kept.
type Retention [3]time.Duration

// DefaultRetention keeps minutes for 2 days, hours for 90 days and days for
// 2 years.
func DefaultRetention() Retention {
	return Retention{48 * time.Hour, 90 * 24 * time.Hour, 730 * 24 * time.Hour}
}

// ExpireAt returns when a bucket starting at start (Unix seconds) of
// granularity g may be deleted.
func (r Retention) ExpireAt(g store.Granularity, start int64) int64 {
	return start + g.Seconds() + int64(r[g]/time.Second)
}

// BucketKey names one link's bucket.
type BucketKey struct {
	G     store.Granularity
	Start int64  // Unix seconds, UTC
	Link  string // LinkKey(domain, code, created)
}

// LinkKey is how aggregates name a link: the store's key (code, NUL,
// domain) and, for scans that carry it, NUL and the link's creation time
// in Unix nanoseconds, so that a code deleted and created again is
// another link whose stats start at zero. Scans recorded before events
// carried it (created 0) are named by the store's key alone: legacy
// aggregates, counted for the link that holds the code from its creation
// on.
func LinkKey(domain, code string, created int64) string {
	k := store.LinkKey(domain, code)
	if created == 0 {
		return k
	}
	return k + "\x00" + strconv.FormatInt(created, 10)
}

// SplitLinkKey splits what LinkKey joined.
func SplitLinkKey(k string) (code, domain string, created int64) {
	code, rest, _ := strings.Cut(k, "\x00")
	domain, c, ok := strings.Cut(rest, "\x00")
	if ok {
		created, _ = strconv.ParseInt(c, 10, 64)
	}
	return code, domain, created
}

// QueryLinkKey is the LinkKey of the link a stats query asks about.
func QueryLinkKey(q store.StatsQuery) string {
	var created int64
	if !q.Created.IsZero() {
		created = q.Created.UnixNano()
	}
	return LinkKey(q.Domain, q.Code, created)
}

// LegacyFrom returns the first bucket start (Unix seconds) of q's
// granularity whose legacy aggregates (scans recorded without the link's
// creation time) count for the link q asks about: the bucket of its
// creation and later ones. Without a creation time every bucket counts.
func LegacyFrom(q store.StatsQuery) int64 {
	if q.Created.IsZero() {
		return math.MinInt64
	}
	return q.Granularity.Truncate(q.Created.Unix())
}

// Delta is what a batch of events adds: counters per bucket, and the
// visitor hashes per bucket for unique counts (adding a hash twice to a
// HyperLogLog changes nothing, so they need no exactly-once care).
type Delta struct {
	Counts  map[BucketKey]map[string]int64
	Uniques map[BucketKey]*Visitors
	Events  int
}

// Visitors are the IP hashes seen in a bucket: all scans and human scans.
type Visitors struct{ All, Human []uint64 }

// NewDelta returns an empty delta.
func NewDelta() *Delta {
	return &Delta{Counts: map[BucketKey]map[string]int64{}, Uniques: map[BucketKey]*Visitors{}}
}

// Add counts one event in each granularity.
func (d *Delta) Add(e *analytics.Decoded) {
	var buf [8]string
	fields := Fields(e, buf[:0])
	sec := e.Time / 1e9
	link := LinkKey(e.Domain, e.Code, e.LinkCreated)
	for _, g := range store.Granularities {
		k := BucketKey{G: g, Start: g.Truncate(sec), Link: link}
		m := d.Counts[k]
		if m == nil {
			m = map[string]int64{}
			d.Counts[k] = m
		}
		for _, f := range fields {
			m[f]++
		}
		if e.IPHash != 0 {
			v := d.Uniques[k]
			if v == nil {
				v = &Visitors{}
				d.Uniques[k] = v
			}
			v.All = append(v.All, e.IPHash)
			if !e.Bot {
				v.Human = append(v.Human, e.IPHash)
			}
		}
	}
	d.Events++
}

// Fields appends the counter fields one event increments.
func Fields(e *analytics.Decoded, dst []string) []string {
	c := "h"
	if e.Bot {
		c = "b"
	}
	country := e.Country
	if country == "" {
		country = "--"
	}
	ref := e.ReferrerHost
	if ref == "" {
		ref = "(direct)"
	}
	return append(dst, c,
		c+"c:"+country,
		c+"d:"+DeviceName(e.Device),
		c+"r:"+ref,
		c+"t:"+TargetName(e),
		c+"s:"+SourceName(e.Source))
}

// TargetName names where a scan went: destination, rule:<name> (rule:<n>,
// its position, for a rule without a name), variant:<name>,
// not_yet_active, expired, disabled or scan_limit.
func TargetName(e *analytics.Decoded) string {
	switch e.Target {
	case analytics.TargetRule:
		if e.RuleName != "" {
			return "rule:" + e.RuleName
		}
		return "rule:" + strconv.Itoa(int(e.Rule))
	case analytics.TargetVariant, analytics.TargetVariantCookie:
		return "variant:" + e.Variant
	case analytics.TargetNotYetActive:
		return "not_yet_active"
	case analytics.TargetExpired:
		return "expired"
	case analytics.TargetDisabled:
		return "disabled"
	case analytics.TargetScanLimit:
		return "scan_limit"
	}
	return "destination"
}

// Total returns the scans a bucket's counters hold.
func Total(m map[string]int64, excludeBots bool) int64 {
	if excludeBots {
		return m["h"]
	}
	return m["h"] + m["b"]
}

// Assemble builds a link's stats from its buckets' counters (buckets[i]
// is the bucket q.Buckets() numbers i; nil when empty), the unique
// visitors per bucket and over the whole range.
func Assemble(q store.StatsQuery, buckets []map[string]int64, uniques []int64, rangeUniques int64) *store.LinkStats {
	st := &store.LinkStats{Code: q.Code, Domain: q.Domain, CreatedAt: createdAt(q), Stats: store.NewStats(q)}
	st.UniqueVisitors = rangeUniques
	st.Breakdowns["bot"] = map[string]int64{}
	for _, name := range dimNames {
		st.Breakdowns[name] = map[string]int64{}
	}
	for i := range st.Series {
		p := &st.Series[i]
		if i < len(uniques) {
			p.UniqueVisitors = uniques[i]
		}
		if i >= len(buckets) || buckets[i] == nil {
			continue
		}
		m := buckets[i]
		p.Total = Total(m, q.ExcludeBots)
		p.Humans, p.QR, p.Link = m["h"], m["hs:qr"], m["hs:link"]
		if !q.ExcludeBots {
			p.Bots = m["b"]
			p.QR += m["bs:qr"]
			p.Link += m["bs:link"]
		}
		st.Total += p.Total
		if v := m["h"]; v > 0 {
			st.Breakdowns["bot"]["human"] += v
		}
		if v := m["b"]; v > 0 && !q.ExcludeBots {
			st.Breakdowns["bot"]["bot"] += v
		}
		for f, v := range m {
			if len(f) < 3 || f[2] != ':' || (q.ExcludeBots && f[0] == 'b') {
				continue
			}
			if name, ok := dimNames[f[1]]; ok {
				st.Breakdowns[name][f[3:]] += v
			}
		}
	}
	return st
}

func createdAt(q store.StatsQuery) *time.Time {
	if q.Created.IsZero() {
		return nil
	}
	t := q.Created.UTC()
	return &t
}

// AssembleTop builds a top answer from totals by link key.
func AssembleTop(q store.StatsQuery, totals map[string]int64) *store.TopStats {
	first, n := q.Buckets()
	w := q.Granularity.Seconds()
	st := &store.TopStats{From: time.Unix(first, 0).UTC(), To: time.Unix(first+int64(n)*w, 0).UTC(),
		Granularity: q.Granularity.String(), ExcludeBots: q.ExcludeBots, Links: []store.TopLink{}}
	for k, v := range totals {
		if v <= 0 {
			continue
		}
		code, domain, created := SplitLinkKey(k)
		tl := store.TopLink{Code: code, Domain: domain, Total: v}
		if created != 0 {
			t := time.Unix(0, created).UTC()
			tl.CreatedAt = &t
		}
		st.Links = append(st.Links, tl)
	}
	sort.Slice(st.Links, func(i, j int) bool {
		a, b := st.Links[i], st.Links[j]
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Domain != b.Domain {
			return a.Domain < b.Domain
		}
		return a.CreatedAt != nil && (b.CreatedAt == nil || a.CreatedAt.Before(*b.CreatedAt))
	})
	if q.Limit > 0 && len(st.Links) > q.Limit {
		st.Links = st.Links[:q.Limit]
	}
	return st
}

// ErrStale is returned by an aggregate store when the offset stored for a
// partition is not the one a batch continues from: another consumer (or
// this one before a crash) got further, or the store lost recent writes.
// The caller must read the stored offset again and continue after it.
var ErrStale = errors.New("batch already applied: re-read the stored offset")

// Result is what applying a batch did.
type Result struct {
	Applied    int // events counted
	Duplicates int // events already counted before, skipped
}
