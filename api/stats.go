package api

import (
	"net/http"
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

func (s *Server) linkStats(w http.ResponseWriter, r *http.Request) error {
	domain, code, err := target(r)
	if err != nil {
		return err
	}
	q, err := parseStatsQuery(r, time.Now())
	if err != nil {
		return err
	}
	if _, err := s.store.GetLink(r.Context(), domain, code); err != nil {
		return err
	}
	q.Domain, q.Code = domain, code
	st, err := s.cfg.Stats.LinkStats(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) topStats(w http.ResponseWriter, r *http.Request) error {
	q, err := parseStatsQuery(r, time.Now())
	if err != nil {
		return err
	}
	q.Limit = 10
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTopLimit {
			return badRequest("limit", "want a whole number from 1 to %d, got %q", maxTopLimit, v)
		}
		q.Limit = n
	}
	st, err := s.cfg.Stats.Top(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
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
