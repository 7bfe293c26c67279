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
