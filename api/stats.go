package api

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/qredge/qredge/store"
)

// Brake pauses and resumes the aggregation of scan events (the embedded
// mode's emergency brake).
type Brake interface {
	Pause() bool
	Resume() bool
	Paused() bool
}

// defaultPoints is the most buckets a stats request without granularity
// gets, when a coarser granularity can do with fewer.
const defaultPoints = 360

// maxTopLimit bounds GET /api/v1/stats/top?limit=.
const maxTopLimit = 1000

// parseStatsQuery reads from, to, granularity and exclude_bots. from and
// to are RFC 3339 times or Unix seconds; to defaults to now and from to 24
// hours before to. Without granularity the finest one that keeps the
// range within defaultPoints buckets is used (minutes up to 6 hours, hours
// up to 15 days, else days).
func parseStatsQuery(r *http.Request, now time.Time) (store.StatsQuery, error) {
	v := r.URL.Query()
	var q store.StatsQuery
	parseTime := func(name string, def time.Time) (time.Time, error) {
		s := v.Get(name)
		if s == "" {
			return def, nil
		}
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			if sec < 0 || sec > 253402300799 {
				return time.Time{}, badRequest(name, "%q is out of range", s)
			}
			return time.Unix(sec, 0).UTC(), nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, badRequest(name, "%q is neither an RFC 3339 time such as 2026-11-27T12:00:00Z nor Unix seconds", s)
		}
		if t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, badRequest(name, "%q is out of range", s)
		}
		return t.UTC(), nil
	}
	var err error
	if q.To, err = parseTime("to", now.UTC()); err != nil {
		return q, err
	}
	if q.From, err = parseTime("from", q.To.Add(-24*time.Hour)); err != nil {
		return q, err
	}
	if !q.From.Before(q.To) {
		return q, badRequest("from", "%s must be before to (%s)", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if g := v.Get("granularity"); g != "" {
		var ok bool
		if q.Granularity, ok = store.ParseGranularity(g); !ok {
			return q, badRequest("granularity", "want minute, hour or day, got %q", g)
		}
		if _, n := q.Buckets(); n > store.MaxStatsPoints {
			return q, badRequest("granularity", "the range holds %d %s buckets, more than %d: use a coarser granularity or a shorter range", n, g, store.MaxStatsPoints)
		}
	} else {
		// The finest granularity with at most defaultPoints buckets (24
		// hours: hours), else the finest that fits at all.
		q.Granularity = store.Day
		for _, g := range store.Granularities {
			if _, n := (store.StatsQuery{From: q.From, To: q.To, Granularity: g}).Buckets(); n <= defaultPoints {
				q.Granularity = g
				break
			}
		}
		if _, n := q.Buckets(); n > store.MaxStatsPoints {
			return q, badRequest("from", "the range holds %d days, more than %d", n, store.MaxStatsPoints)
		}
	}
	if s := v.Get("exclude_bots"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, badRequest("exclude_bots", "want true or false, got %q", s)
		}
		q.ExcludeBots = b
	}
	return q, nil
}

// linkStats answers the stats of one link. A code deleted and created
// again is another link: without created_at the stats are the live link's;
// with created_at (the creation time of a link of the code, live or
// deleted, as the top list and the audit log show it) they are that link's.
func (s *Server) linkStats(w http.ResponseWriter, r *http.Request) error {
	domain, code, err := target(r)
	if err != nil {
		return err
	}
	q, err := parseStatsQuery(r, time.Now())
	if err != nil {
		return err
	}
	q.Domain, q.Code = domain, code
	created, err := parseCreatedAt(r)
	if err != nil {
		return err
	}
	l, err := s.store.GetLink(r.Context(), domain, code)
	switch {
	case err == nil && (created.IsZero() || l.CreatedAt.Equal(created)):
		q.Created = l.CreatedAt
	case err == nil || store.ErrorCode(err) == store.ENOTFOUND && !created.IsZero():
		q.Created = created // a deleted link's stats
	default:
		return err
	}
	format, err := statsFormat(r)
	if err != nil {
		return err
	}
	st, err := s.cfg.Stats.LinkStats(r.Context(), q)
	if err != nil {
		return err
	}
	st.Deleted = l == nil || !l.CreatedAt.Equal(q.Created)
	if format != "" {
		return writeStatsCSV(w, format, st.Series, st.Breakdowns, "qredge-"+code)
	}
	return writeJSON(w, http.StatusOK, st)
}

// parseCreatedAt reads the created_at parameter: an RFC 3339 time with
// the nanoseconds a link's created_at has.
func parseCreatedAt(r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("created_at")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("created_at", "%q is not an RFC 3339 time such as a link's created_at", v)
	}
	return t.UTC(), nil
}

// topStats answers the most scanned links. Each entry is one link (a code
// deleted and created again is two); links no longer live are left out
// unless include_deleted=true, when they are marked deleted. Scans
// recorded before links had an identity in the stats count for the live
// link of their code.
func (s *Server) topStats(w http.ResponseWriter, r *http.Request) error {
	q, err := parseStatsQuery(r, time.Now())
	if err != nil {
		return err
	}
	q.Limit = 10
	v := r.URL.Query()
	if lim := v.Get("limit"); lim != "" {
		n, err := strconv.Atoi(lim)
		if err != nil || n < 1 || n > maxTopLimit {
			return badRequest("limit", "want a whole number from 1 to %d, got %q", maxTopLimit, lim)
		}
		q.Limit = n
	}
	tag := v.Get("tag")
	if tag != "" {
		if msg := store.CheckTag(tag); msg != "" {
			return badRequest("tag", "%s", msg)
		}
	}
	withDeleted := false
	if d := v.Get("include_deleted"); d != "" {
		if withDeleted, err = strconv.ParseBool(d); err != nil {
			return badRequest("include_deleted", "want true or false, got %q", d)
		}
	}
	limit := q.Limit
	// Ask for more than the limit, since entries of deleted links drop
	// out and legacy entries merge; ask for all when that was not enough.
	for _, ask := range []int{2*limit + 16, 8 * limit, 0} {
		q.Limit = ask
		st, err := s.cfg.Stats.Top(r.Context(), q)
		if err != nil {
			return err
		}
		got := len(st.Links)
		if st.Links, err = s.liveTop(r.Context(), st.Links, withDeleted, tag); err != nil {
			return err
		}
		if len(st.Links) >= limit || ask == 0 || got < ask {
			st.Links = st.Links[:min(limit, len(st.Links))]
			return writeJSON(w, http.StatusOK, st)
		}
	}
	panic("BUG: unreachable")
}

// liveTop marks the entries of links that are gone, drops them unless
// withDeleted, and merges legacy entries (no creation time) into the live
// link of their code. With a tag, only live links that carry it stay. The
// order stays by total.
func (s *Server) liveTop(ctx context.Context, in []store.TopLink, withDeleted bool, tag string) ([]store.TopLink, error) {
	live := map[string]*store.Link{}
	for _, e := range in {
		k := store.LinkKey(e.Domain, e.Code)
		if _, done := live[k]; done {
			continue
		}
		l, err := s.store.GetLink(ctx, e.Domain, e.Code)
		switch {
		case err == nil:
			live[k] = l
		case store.ErrorCode(err) == store.ENOTFOUND:
			live[k] = nil
		default:
			return nil, err
		}
	}
	out := make([]store.TopLink, 0, len(in))
	index := map[string]int{} // live link key -> its entry in out
	for _, e := range in {
		k := store.LinkKey(e.Domain, e.Code)
		l := live[k]
		isLive := l != nil && (e.CreatedAt == nil || l.CreatedAt.Equal(*e.CreatedAt))
		if tag != "" && (!isLive || !slices.Contains(l.Tags, tag)) {
			continue
		}
		if isLive {
			t := l.CreatedAt.UTC()
			e.CreatedAt = &t
			if i, ok := index[k]; ok {
				out[i].Total += e.Total
				continue
			}
			index[k] = len(out)
		} else {
			if !withDeleted {
				continue
			}
			e.Deleted = true
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out, nil
}

func (s *Server) brakeStatus(w http.ResponseWriter) error {
	return writeJSON(w, http.StatusOK, map[string]bool{"paused": s.cfg.Brake.Paused()})
}

func (s *Server) pauseAnalytics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Brake.Pause() {
		s.log.Warn("analytics paused (emergency brake): events wait in the log", "by", "api")
	}
	return s.brakeStatus(w)
}

func (s *Server) resumeAnalytics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Brake.Resume() {
		s.log.Info("analytics resumed", "by", "api")
	}
	return s.brakeStatus(w)
}
