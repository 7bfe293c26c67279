package store

import (
	"testing"
	"time"
)

// TestStatsAdd: NewStats is the empty range with its bucket times; Add
// sums totals, points and breakdowns.
func TestStatsAdd(t *testing.T) {
	from := time.Unix(3600*1000, 0).UTC()
	q := StatsQuery{From: from, To: from.Add(2 * time.Hour), Granularity: Hour}
	sum := NewStats(q)
	if len(sum.Series) != 2 || !sum.Series[1].Time.Equal(from.Add(time.Hour)) || !sum.To.Equal(from.Add(2*time.Hour)) || sum.Granularity != "hour" {
		t.Fatalf("empty stats %+v", sum)
	}
	a := Stats{Total: 3, UniqueVisitors: 2, Series: []StatsPoint{{Total: 1, QR: 1, Humans: 1}, {Total: 2, Link: 2, Bots: 2}},
		Breakdowns: map[string]map[string]int64{"device": {"ios": 3}}}
	sum.Add(&a)
	sum.Add(&a)
	p := sum.Series[1]
	if sum.Total != 6 || sum.UniqueVisitors != 4 || sum.Series[0].QR != 2 || p.Total != 4 || p.Link != 4 || p.Bots != 4 || sum.Breakdowns["device"]["ios"] != 6 {
		t.Fatalf("sum %+v", sum)
	}
	if a.Breakdowns["device"]["ios"] != 3 {
		t.Fatal("Add changed what it added")
	}
}
