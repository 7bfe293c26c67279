package localagg

import (
	"context"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

// TestPurgeStats: purging one link removes its counters and sketches at
// every granularity and leaves the other links' stats exact.
func TestPurgeStats(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 1<<20)
	evs := genEvents(3000, 11, 2*time.Hour)
	appendRecords(t, e.sp, encodeEvents(evs), 50)
	e.a.Start()
	e.waitApplied(t, 3000)

	gone := testLinks[0]
	code, domain := splitLink(gone)
	n, err := e.a.PurgeStats(context.Background(), domain, code)
	if err != nil || n == 0 {
		t.Fatalf("PurgeStats: %d keys, %v", n, err)
	}
	for _, g := range store.Granularities {
		st, err := e.a.LinkStats(context.Background(), store.StatsQuery{Domain: domain, Code: code, From: base, To: base.Add(2 * time.Hour), Granularity: g})
		if err != nil || st.Total != 0 || st.UniqueVisitors != 0 {
			t.Fatalf("%s after purge: total %d, visitors %d, %v", g, st.Total, st.UniqueVisitors, err)
		}
	}
	// The others are untouched: check them against the events without
	// the purged link's.
	var rest []analytics.Event
	for _, ev := range evs {
		if ev.Key != gone {
			rest = append(rest, ev)
		}
	}
	checkStats(t, e.a, rest, 2*time.Hour)
	if n, err := e.a.PurgeStats(context.Background(), domain, code); err != nil || n != 0 {
		t.Fatalf("second purge: %d keys, %v", n, err)
	}
}

// TestLinkIdentity: a code deleted and created again is another link:
// each link's stats hold its own scans, legacy scans (recorded without the
// creation time) count for the link that holds the code from its
// creation on, the top list names each link, and a purge removes them all.
func TestLinkIdentity(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 1<<20)
	first, second := base.Add(time.Hour), base.Add(2*time.Hour)
	var evs []analytics.Event
	add := func(n int, at, created time.Time) {
		for range n {
			ev := analytics.Event{Time: at.Add(time.Duration(len(evs)) * time.Second).UnixNano(), Key: store.LinkKey("", "x"), Version: 1, Status: 302, Rule: -1,
				Target: analytics.TargetDestination, IP: [16]byte{15: byte(len(evs) + 1)}}
			if !created.IsZero() {
				ev.Extras = string(store.AppendLinkExtras(nil, &store.Link{Status: 302, CreatedAt: created}))
			}
			evs = append(evs, ev)
		}
	}
	add(3, base, time.Time{})             // legacy, before the first link was created
	add(5, first, time.Time{})            // legacy, of the first link
	add(7, first.Add(time.Minute), first) // the first link
	add(11, second, second)               // the second link, same code
	appendRecords(t, e.sp, encodeEvents(evs), 10)
	e.a.Start()
	e.waitApplied(t, len(evs))
	ctx := context.Background()
	q := store.StatsQuery{Code: "x", From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour}
	for _, c := range []struct {
		created         time.Time
		want, wantUniqs int64
	}{{first, 5 + 7, 12}, {second, 11, 11}, {time.Time{}, 3 + 5, 8}} {
		q.Created = c.created
		st, err := e.a.LinkStats(ctx, q)
		if err != nil || st.Total != c.want || st.UniqueVisitors != c.wantUniqs {
			t.Fatalf("created %v: total %d visitors %d (%v), want %d and %d", c.created, st.Total, st.UniqueVisitors, err, c.want, c.wantUniqs)
		}
	}
	top, err := e.a.Top(ctx, store.StatsQuery{From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour})
	if err != nil || len(top.Links) != 3 {
		t.Fatalf("top %+v (%v), want 3 links of x", top, err)
	}
	if l := top.Links[0]; l.Total != 11 || l.CreatedAt == nil || !l.CreatedAt.Equal(second) {
		t.Fatalf("top entry %+v, want the second link with 11", l)
	}
	if n, err := e.a.PurgeStats(ctx, "", "x"); err != nil || n == 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
	top, _ = e.a.Top(ctx, store.StatsQuery{From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour})
	q.Created = second
	st, _ := e.a.LinkStats(ctx, q)
	if len(top.Links) != 0 || st.Total != 0 {
		t.Fatalf("after the purge: top %+v, second link %d scans", top.Links, st.Total)
	}
}
