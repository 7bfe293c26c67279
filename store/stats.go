package store

import (
	"context"
	"time"
)

// Granularity is the width of a stats time bucket.
type Granularity uint8

// Granularities, finest first.
const (
	Minute Granularity = iota
	Hour
	Day
)

// Granularities lists every granularity, finest first.
var Granularities = [...]Granularity{Minute, Hour, Day}

// String returns "minute", "hour" or "day".
func (g Granularity) String() string {
	switch g {
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	case Day:
		return "day"
	}
	return "unknown"
}

// Letter returns the one-letter name used in storage keys: m, h or d.
func (g Granularity) Letter() byte { return "mhd"[g] }

// Seconds returns the bucket width in seconds.
func (g Granularity) Seconds() int64 {
	switch g {
	case Minute:
		return 60
	case Hour:
		return 3600
	}
	return 86400
}

// Truncate returns the start (Unix seconds, UTC) of the bucket holding
// the Unix time sec.
func (g Granularity) Truncate(sec int64) int64 {
	w := g.Seconds()
	if sec < 0 {
		return (sec - w + 1) / w * w
	}
	return sec / w * w
}

// ParseGranularity parses "minute", "hour" or "day".
func ParseGranularity(s string) (Granularity, bool) {
	for _, g := range Granularities {
		if g.String() == s {
			return g, true
		}
	}
	return 0, false
}

// MaxStatsPoints bounds the buckets one stats request may span, so a
// request cannot make the server read years of minutes.
const MaxStatsPoints = 1500

// StatsQuery asks for the stats of one link, or of all links (top).
type StatsQuery struct {
	Domain, Code string // empty for a top query
	// Created is the creation time of the link asked about: the scans of
	// that link alone, not those of an earlier link with the same code.
	// Zero: every scan recorded under the code.
	Created time.Time
	// From and To bound the time range [From, To); both are truncated to
	// the granularity (From down, To up).
	From, To    time.Time
	Granularity Granularity
	ExcludeBots bool
	Limit       int // top only
}

// Buckets returns the first bucket start and the number of buckets of q.
func (q StatsQuery) Buckets() (first int64, n int) {
	w := q.Granularity.Seconds()
	first = q.Granularity.Truncate(q.From.Unix())
	to := q.To.Unix() // exclusive; a fraction of a second rounds up
	if q.To.Nanosecond() > 0 {
		to++
	}
	last := q.Granularity.Truncate(to - 1)
	if to <= first {
		return first, 0
	}
	return first, int((last-first)/w) + 1
}

// StatsPoint is one time bucket of a series: its scans, told apart by
// source (QR against link) and by visitor (people against bots), and its
// unique visitors.
type StatsPoint struct {
	Time           time.Time `json:"time"`
	Total          int64     `json:"total"`
	QR             int64     `json:"qr"`
	Link           int64     `json:"link"`
	Humans         int64     `json:"humans"`
	Bots           int64     `json:"bots"`
	UniqueVisitors int64     `json:"unique_visitors"`
}

// Stats are the scans of a time range: the totals, the series of its
// buckets and the breakdowns. A link's stats and a campaign's (its links'
// added up) have them.
type Stats struct {
	From           time.Time    `json:"from"`
	To             time.Time    `json:"to"`
	Granularity    string       `json:"granularity"`
	ExcludeBots    bool         `json:"exclude_bots"`
	Total          int64        `json:"total"`
	UniqueVisitors int64        `json:"unique_visitors"`
	Series         []StatsPoint `json:"series"`
	// Breakdowns maps a dimension (country, device, referrer, target,
	// bot) to counts by value.
	Breakdowns map[string]map[string]int64 `json:"breakdowns"`
}

// NewStats returns the empty stats of q's range: every bucket in the
// series, with its time, at zero.
func NewStats(q StatsQuery) Stats {
	first, n := q.Buckets()
	w := q.Granularity.Seconds()
	st := Stats{
		From: time.Unix(first, 0).UTC(), To: time.Unix(first+int64(n)*w, 0).UTC(),
		Granularity: q.Granularity.String(), ExcludeBots: q.ExcludeBots,
		Series: make([]StatsPoint, n), Breakdowns: map[string]map[string]int64{},
	}
	for i := range st.Series {
		st.Series[i].Time = time.Unix(first+int64(i)*w, 0).UTC()
	}
	return st
}

// Add adds o, stats of the same range, to s; unique visitors add up too
// (a visitor counted in both counts twice).
func (s *Stats) Add(o *Stats) {
	s.Total += o.Total
	s.UniqueVisitors += o.UniqueVisitors
	for i := range min(len(s.Series), len(o.Series)) {
		p, q := &s.Series[i], &o.Series[i]
		p.Total, p.QR, p.Link = p.Total+q.Total, p.QR+q.QR, p.Link+q.Link
		p.Humans, p.Bots, p.UniqueVisitors = p.Humans+q.Humans, p.Bots+q.Bots, p.UniqueVisitors+q.UniqueVisitors
	}
	for dim, m := range o.Breakdowns {
		if s.Breakdowns[dim] == nil {
			s.Breakdowns[dim] = map[string]int64{}
		}
		for k, v := range m {
			s.Breakdowns[dim][k] += v
		}
	}
}

// LinkStats is what GET /api/v1/links/{code}/stats returns.
type LinkStats struct {
	Code   string `json:"code"`
	Domain string `json:"domain"`
	// CreatedAt names the link of the code the stats are of (a code deleted
	// and created again is another link); Deleted says it is gone.
	CreatedAt *time.Time `json:"created_at,omitempty"`
	Deleted   bool       `json:"deleted,omitempty"`
	Stats
}

// TopLink is one entry of GET /api/v1/stats/top.
type TopLink struct {
	Code   string `json:"code"`
	Domain string `json:"domain"`
	// CreatedAt names the link of the code (absent for scans recorded
	// before links had an identity in the stats); Deleted says it is gone
	// (listed only with include_deleted).
	CreatedAt *time.Time `json:"created_at,omitempty"`
	Deleted   bool       `json:"deleted,omitempty"`
	Total     int64      `json:"total"`
}

// TopStats is what GET /api/v1/stats/top returns.
type TopStats struct {
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Granularity string    `json:"granularity"`
	ExcludeBots bool      `json:"exclude_bots"`
	Links       []TopLink `json:"links"`
}

// StatsReader reads scan aggregates. Implementations fill every field of
// the result; the API only parses and checks the query.
type StatsReader interface {
	LinkStats(ctx context.Context, q StatsQuery) (*LinkStats, error)
	Top(ctx context.Context, q StatsQuery) (*TopStats, error)
}

// StatsPurger is implemented by stats stores that can forget a link's
// scans (DELETE /api/v1/links/{code}?purge_stats=true).
type StatsPurger interface {
	// PurgeStats deletes every counter and unique-visitor sketch of the
	// link (domain, code) and returns how many keys it removed.
	PurgeStats(ctx context.Context, domain, code string) (int, error)
}
