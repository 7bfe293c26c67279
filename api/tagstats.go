package api

import (
	"encoding/csv"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/qredge/qredge/store"
)

// maxTagLinks bounds the links whose stats one campaign request adds up.
const maxTagLinks = 1000

// tagStatsAnswer is GET /api/v1/stats/tags/{tag}: the stats of every live
// link with the tag, added up (store.Stats.Add).
type tagStatsAnswer struct {
	Tag   string `json:"tag"`
	Links int    `json:"links"`
	store.Stats
}

// tagStats answers the stats of a campaign: the live links with a tag.
func (s *Server) tagStats(w http.ResponseWriter, r *http.Request) error {
	tag := r.PathValue("tag")
	if msg := store.CheckTag(tag); msg != "" {
		return badRequest("tag", "%s", msg)
	}
	q, err := parseStatsQuery(r, time.Now())
	if err != nil {
		return err
	}
	format, err := statsFormat(r)
	if err != nil {
		return err
	}
	out := tagStatsAnswer{Tag: tag, Stats: store.NewStats(q)}
	opt := store.ListOptions{Tag: tag, Limit: store.MaxListLimit}
	for {
		page, err := s.store.ListLinks(r.Context(), opt)
		if err != nil {
			return err
		}
		for _, l := range page.Links {
			if out.Links++; out.Links > maxTagLinks {
				return store.Errorf(store.EINVALID, "the tag %s has more than %d links: ask for the stats of fewer, or use the top list (GET /api/v1/stats/top?tag=)", tag, maxTagLinks)
			}
			lq := q
			lq.Domain, lq.Code, lq.Created = l.Domain, l.Code, l.CreatedAt
			st, err := s.cfg.Stats.LinkStats(r.Context(), lq)
			if err != nil {
				return err
			}
			out.Add(&st.Stats)
		}
		if page.NextCursor == "" {
			break
		}
		opt.Cursor = page.NextCursor
	}
	if format != "" {
		return writeStatsCSV(w, format, out.Series, out.Breakdowns, "campaign-"+tag)
	}
	return writeJSON(w, http.StatusOK, out)
}

// statsFormat reads format (json or csv) and, for csv, table (series or
// breakdowns): "" for JSON, else the CSV table.
func statsFormat(r *http.Request) (string, error) {
	v := r.URL.Query()
	switch v.Get("format") {
	case "", "json":
		if v.Get("table") != "" {
			return "", badRequest("table", "goes with format=csv")
		}
		return "", nil
	case "csv":
	default:
		return "", badRequest("format", "want json or csv, got %q", v.Get("format"))
	}
	switch t := v.Get("table"); t {
	case "", "series":
		return "series", nil
	case "breakdowns":
		return t, nil
	default:
		return "", badRequest("table", "want series or breakdowns, got %q", t)
	}
}

// writeStatsCSV writes the series (time,total,qr,link,humans,bots,
// unique_visitors) or the breakdowns (dimension,value,count) as CSV, for
// a spreadsheet.
func writeStatsCSV(w http.ResponseWriter, table string, series []store.StatsPoint, breakdowns map[string]map[string]int64, name string) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"-"+table+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	i := strconv.FormatInt
	if table == "series" {
		cw.Write([]string{"time", "total", "qr", "link", "humans", "bots", "unique_visitors"})
		for _, p := range series {
			cw.Write([]string{p.Time.Format(time.RFC3339), i(p.Total, 10), i(p.QR, 10), i(p.Link, 10), i(p.Humans, 10), i(p.Bots, 10), i(p.UniqueVisitors, 10)})
		}
	} else {
		cw.Write([]string{"dimension", "value", "count"})
		for _, dim := range slices.Sorted(maps.Keys(breakdowns)) {
			for _, k := range slices.Sorted(maps.Keys(breakdowns[dim])) {
				cw.Write([]string{dim, csvSafe(k), i(breakdowns[dim][k], 10)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a value (a referrer host, a
// variant name) as a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
