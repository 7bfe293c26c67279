package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

// fakeStats records the query the API parsed; the real readers are tested
// in analytics/redisagg and analytics/localagg, and end to end in
// cmd/qredge.
type fakeStats struct {
	mu       sync.Mutex
	last     store.StatsQuery
	purged   []string // "code|domain" of every PurgeStats call
	purgeErr error
	top      []store.TopLink // what Top answers, by total
}

func (f *fakeStats) PurgeStats(ctx context.Context, domain, code string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.purgeErr != nil {
		return 0, f.purgeErr
	}
	f.purged = append(f.purged, code+"|"+domain)
	return 3, nil
}

func (f *fakeStats) LinkStats(ctx context.Context, q store.StatsQuery) (*store.LinkStats, error) {
	f.mu.Lock()
	f.last = q
	f.mu.Unlock()
	first, n := q.Buckets()
	return &store.LinkStats{Code: q.Code, Domain: q.Domain, Stats: store.Stats{From: time.Unix(first, 0).UTC(), Granularity: q.Granularity.String(),
		ExcludeBots: q.ExcludeBots, Total: int64(n), Series: make([]store.StatsPoint, n)}}, nil
}

func (f *fakeStats) Top(ctx context.Context, q store.StatsQuery) (*store.TopStats, error) {
	f.mu.Lock()
	f.last = q
	top := append([]store.TopLink(nil), f.top...)
	f.mu.Unlock()
	if q.Limit > 0 && len(top) > q.Limit {
		top = top[:q.Limit]
	}
	return &store.TopStats{Granularity: q.Granularity.String(), Links: top}, nil
}

func (f *fakeStats) query() store.StatsQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

type fakeBrake struct {
	mu     sync.Mutex
	paused bool
}

func (b *fakeBrake) Pause() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.paused
	b.paused = true
	return !was
}

func (b *fakeBrake) Resume() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.paused
	b.paused = false
	return was
}

func (b *fakeBrake) Paused() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.paused
}

func TestStatsQueries(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"s","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("POST", "/api/v1/links", e.write, `{"code":"s","domain":"go.example","destination":"https://example.com/"}`, nil, 201, nil)
	var st store.LinkStats
	// Defaults: the last 24 hours, in hours.
	e.call("GET", "/api/v1/links/s/stats", e.read, "", nil, 200, &st)
	q := e.stats.query()
	if q.Code != "s" || q.Granularity != store.Hour || q.To.Sub(q.From) != 24*time.Hour || q.ExcludeBots {
		t.Fatalf("default query %+v", q)
	}
	if st.Code != "s" || st.Granularity != "hour" {
		t.Fatalf("answer %+v", st)
	}
	e.call("GET", "/api/v1/links/s/stats?domain=go.example&from=2026-11-01T00:00:00Z&to=1796083200&exclude_bots=true", e.read, "", nil, 200, &st)
	q = e.stats.query()
	if q.Domain != "go.example" || q.Granularity != store.Day || !q.ExcludeBots || q.From.Day() != 1 || !q.To.Equal(time.Unix(1796083200, 0)) {
		t.Fatalf("query %+v", q)
	}
	if st.Total != 30 {
		t.Fatalf("day buckets in November: %d", st.Total)
	}
	// Six hours come in minutes; an explicit granularity wins.
	e.call("GET", "/api/v1/links/s/stats?from=2026-11-01T00:00:00Z&to=2026-11-01T06:00:00Z", e.read, "", nil, 200, &st)
	if e.stats.query().Granularity != store.Minute || st.Total != 360 {
		t.Fatalf("six hours: %v, %d buckets", e.stats.query().Granularity, st.Total)
	}
	e.call("GET", "/api/v1/links/s/stats?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&granularity=minute", e.read, "", nil, 200, &st)
	if st.Total != 1440 {
		t.Fatalf("a day of minutes: %d buckets", st.Total)
	}
	// Two years need day buckets.
	e.call("GET", "/api/v1/links/s/stats?from=2025-01-01T00:00:00Z&to=2026-12-31T00:00:00Z", e.read, "", nil, 200, &st)
	if e.stats.query().Granularity != store.Day {
		t.Fatalf("granularity %v", e.stats.query().Granularity)
	}
	for _, c := range []struct{ query, field string }{
		{"granularity=week", "granularity"},
		{"granularity=minute&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z", "granularity"},
		{"from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z", "from"},
		{"from=yesterday", "from"},
		{"to=-5", "to"},
		{"from=1900-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{"exclude_bots=maybe", "exclude_bots"},
	} {
		r := e.call("GET", "/api/v1/links/s/stats?"+c.query, e.read, "", nil, 400, nil)
		p := r.problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != c.field {
			t.Errorf("%s: problem %+v, want field %s", c.query, p, c.field)
		}
	}
	e.call("GET", "/api/v1/links/nope/stats", e.read, "", nil, 404, nil).problem(t)
	e.call("GET", "/api/v1/links/s/stats", "", "", nil, 401, nil).problem(t)

	// Each top entry is one link: "s" live (its legacy entry merged into
	// it), a deleted earlier "s", and the deleted "gone".
	var ls apiLink
	e.call("GET", "/api/v1/links/s?domain=go.example", e.read, "", nil, 200, &ls)
	earlier := ls.CreatedAt.Add(-time.Hour)
	e.stats.mu.Lock()
	e.stats.top = []store.TopLink{{Code: "s", Domain: "go.example", CreatedAt: &earlier, Total: 50}, {Code: "gone", Total: 40},
		{Code: "s", Domain: "go.example", CreatedAt: &ls.CreatedAt, Total: 30}, {Code: "s", Domain: "go.example", Total: 25}}
	e.stats.mu.Unlock()
	var top store.TopStats
	e.call("GET", "/api/v1/stats/top?limit=3&granularity=day", e.read, "", nil, 200, &top)
	if len(top.Links) != 1 || top.Links[0].Total != 55 || top.Links[0].Deleted || !top.Links[0].CreatedAt.Equal(ls.CreatedAt) || top.Granularity != "day" {
		t.Fatalf("top %+v", top)
	}
	e.call("GET", "/api/v1/stats/top?limit=2&include_deleted=true", e.read, "", nil, 200, &top)
	if len(top.Links) != 2 || top.Links[0].Total != 55 || top.Links[1].Total != 50 || !top.Links[1].Deleted || !top.Links[1].CreatedAt.Equal(earlier) {
		t.Fatalf("top with deleted links %+v", top)
	}
	e.call("GET", "/api/v1/stats/top?include_deleted=maybe", e.read, "", nil, 400, nil).problem(t)
	// The stats of the deleted earlier link, by its created_at.
	var old store.LinkStats
	e.call("GET", "/api/v1/links/s/stats?domain=go.example&created_at="+earlier.Format(time.RFC3339Nano), e.read, "", nil, 200, &old)
	if q := e.stats.query(); !q.Created.Equal(earlier) || !old.Deleted {
		t.Fatalf("stats of the earlier link: query %+v, answer deleted %v", q, old.Deleted)
	}
	old = store.LinkStats{}
	e.call("GET", "/api/v1/links/s/stats?domain=go.example", e.read, "", nil, 200, &old)
	if q := e.stats.query(); !q.Created.Equal(ls.CreatedAt) || old.Deleted {
		t.Fatalf("stats of the live link: query %+v, deleted %v", q, old.Deleted)
	}
	e.call("GET", "/api/v1/links/gone/stats?created_at=2026-01-02T03:04:05.000000006Z", e.read, "", nil, 200, nil)
	e.call("GET", "/api/v1/links/s/stats?created_at=yesterday", e.read, "", nil, 400, nil).problem(t)
	for _, l := range []string{"0", "1001", "ten"} {
		p := e.call("GET", "/api/v1/stats/top?limit="+l, e.read, "", nil, 400, nil).problem(t)
		if !strings.Contains(p.Detail, "limit") {
			t.Errorf("limit %s: %+v", l, p)
		}
	}
	e.call("GET", "/api/v1/stats/top", "", "", nil, 401, nil).problem(t)
}

func TestAnalyticsBrake(t *testing.T) {
	e := mustStartAPI(t)
	var st struct{ Paused bool }
	e.call("POST", "/api/v1/analytics/pause", e.admin, "", nil, 200, &st)
	if !st.Paused || !e.brake.Paused() {
		t.Fatal("not paused")
	}
	e.call("POST", "/api/v1/analytics/resume", e.admin, "", nil, 200, &st)
	if st.Paused || e.brake.Paused() {
		t.Fatal("not resumed")
	}
	e.call("POST", "/api/v1/analytics/pause", e.write, "", nil, 403, nil).problem(t)
	e.call("POST", "/api/v1/analytics/resume", "", "", nil, 401, nil).problem(t)
	e.call("POST", "/api/v1/analytics/pause", "", "", nil, 401, nil).problem(t)
	e.call("POST", "/api/v1/analytics/resume", e.read, "", nil, 403, nil).problem(t)
	if e.brake.Paused() {
		t.Fatal("a refused request changed the brake")
	}
}

// TestDeletePurgeStats: DELETE ?purge_stats=true purges the link's stats
// before deleting it, and keeps the link when the purge fails.
func TestDeletePurgeStats(t *testing.T) {
	e := mustStartAPI(t)
	for _, c := range []string{"p1", "p2", "p3"} {
		e.call("POST", "/api/v1/links", e.write, `{"code":"`+c+`","destination":"https://example.com/"}`, nil, 201, nil)
	}
	e.call("DELETE", "/api/v1/links/p1?purge_stats=true", e.write, "", nil, 204, nil)
	e.call("DELETE", "/api/v1/links/p2?purge_stats=false", e.write, "", nil, 204, nil)
	if p := e.call("DELETE", "/api/v1/links/p3?purge_stats=maybe", e.write, "", nil, 400, nil).problem(t); p.Errors[0].Field != "purge_stats" {
		t.Fatalf("purge_stats=maybe: %+v", p)
	}
	e.call("DELETE", "/api/v1/links/nope?purge_stats=true", e.write, "", nil, 404, nil).problem(t)
	e.call("DELETE", "/api/v1/links/p3?purge_stats=true", e.write, "", map[string]string{"If-Match": `"1"`}, 412, nil).problem(t)
	e.stats.mu.Lock()
	purged := strings.Join(e.stats.purged, ",")
	e.stats.purgeErr = store.Errorf(store.EUNAVAILABLE, "stats are unavailable")
	e.stats.mu.Unlock()
	if purged != "p1|" {
		t.Fatalf("purged %q, want only p1", purged)
	}
	// A failed purge keeps the link, so the request can be retried.
	e.call("DELETE", "/api/v1/links/p3?purge_stats=true", e.write, "", nil, 503, nil).problem(t)
	e.call("GET", "/api/v1/links/p3", e.read, "", nil, 200, nil)
}

// TestTopByTag: tag keeps the live links that carry it, in order of
// scans; a deleted link's entry has no tags to match.
func TestTopByTag(t *testing.T) {
	e := mustStartAPI(t)
	for _, l := range []string{`{"code":"a","destination":"https://example.com/","tags":["spring"]}`,
		`{"code":"b","destination":"https://example.com/","tags":["fall"]}`,
		`{"code":"c","destination":"https://example.com/","tags":["spring","tv"]}`} {
		e.call("POST", "/api/v1/links", e.write, l, nil, 201, nil)
	}
	e.stats.mu.Lock()
	e.stats.top = []store.TopLink{{Code: "b", Total: 90}, {Code: "gone", Total: 80}, {Code: "c", Total: 70}, {Code: "a", Total: 60}}
	e.stats.mu.Unlock()
	var top store.TopStats
	e.call("GET", "/api/v1/stats/top?tag=spring&include_deleted=true", e.read, "", nil, 200, &top)
	if len(top.Links) != 2 || top.Links[0].Code != "c" || top.Links[1].Code != "a" {
		t.Fatalf("top of tag spring %+v", top.Links)
	}
	e.call("GET", "/api/v1/stats/top?tag=spring&limit=1", e.read, "", nil, 200, &top)
	if len(top.Links) != 1 || top.Links[0].Code != "c" {
		t.Fatalf("top 1 of tag spring %+v", top.Links)
	}
	if p := e.call("GET", "/api/v1/stats/top?tag=a%20b", e.read, "", nil, 400, nil).problem(t); p.Errors[0].Field != "tag" {
		t.Fatalf("bad tag: %+v", p)
	}
}

// TestTagStats: a campaign's stats add up its live links' stats; stats
// come as CSV too (series or breakdowns); a tag of more than 1,000 links
// is refused.
func TestTagStats(t *testing.T) {
	e := mustStartAPI(t)
	for _, l := range []string{`{"code":"a","destination":"https://example.com/","tags":["spring"]}`,
		`{"code":"b","destination":"https://example.com/","tags":["spring","tv"]}`,
		`{"code":"c","destination":"https://example.com/","tags":["fall"]}`} {
		e.call("POST", "/api/v1/links", e.write, l, nil, 201, nil)
	}
	// A range of six hours, on the test clock.
	from := testclock.Date(2026, 1, 1, 0, 0, 0)
	rng := func(hours int) string {
		return "&from=" + from.Format(time.RFC3339) + "&to=" + from.Add(time.Duration(hours)*time.Hour).Format(time.RFC3339)
	}
	var st tagStatsAnswer
	e.call("GET", "/api/v1/stats/tags/spring?granularity=hour"+rng(6), e.read, "", nil, 200, &st)
	// The fake stats give every link as many scans as the range has buckets.
	if st.Tag != "spring" || st.Links != 2 || st.Total != 12 || len(st.Series) != 6 || st.Granularity != "hour" {
		t.Fatalf("tag stats %+v", st)
	}
	st = tagStatsAnswer{}
	e.call("GET", "/api/v1/stats/tags/none?granularity=hour"+rng(6), e.read, "", nil, 200, &st)
	if st.Links != 0 || st.Total != 0 || len(st.Series) != 6 {
		t.Fatalf("a tag without links %+v", st)
	}
	r := e.call("GET", "/api/v1/stats/tags/spring?format=csv&granularity=hour"+rng(2), e.read, "", nil, 200, nil)
	want := "time,total,qr,link,humans,bots,unique_visitors\n" + from.Format(time.RFC3339) + ",0,0,0,0,0,0\n" + from.Add(time.Hour).Format(time.RFC3339) + ",0,0,0,0,0,0\n"
	if got := string(r.body); r.header.Get("Content-Type") != "text/csv; charset=utf-8" || got != want {
		t.Fatalf("series CSV %q (%s), want %q", got, r.header.Get("Content-Type"), want)
	}
	r = e.call("GET", "/api/v1/links/a/stats?format=csv&table=breakdowns", e.read, "", nil, 200, nil)
	if !strings.HasPrefix(string(r.body), "dimension,value,count\n") || !strings.Contains(r.header.Get("Content-Disposition"), "qredge-a-breakdowns.csv") {
		t.Fatalf("breakdowns CSV %q %v", r.body, r.header)
	}
	e.call("GET", "/api/v1/links/a/stats?format=xml", e.read, "", nil, 400, nil)
	e.call("GET", "/api/v1/stats/tags/spring?table=series", e.read, "", nil, 400, nil)
	e.call("GET", "/api/v1/stats/tags/a%20b", e.read, "", nil, 400, nil)
	var many strings.Builder
	many.WriteString("[")
	for i := range maxTagLinks + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `{"code":"m%d","destination":"https://example.com/","tags":["big"]}`, i)
	}
	many.WriteString("]")
	e.call("POST", "/api/v1/links/bulk", e.write, many.String(), nil, 201, nil)
	if p := e.call("GET", "/api/v1/stats/tags/big", e.read, "", nil, 422, nil).problem(t); !strings.Contains(p.Detail, "more than 1000 links") {
		t.Fatalf("a big tag: %+v", p)
	}
}
