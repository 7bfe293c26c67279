package aggregate

import (
	"context"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

func TestBuckets(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f := func(from, to string, g store.Granularity, wantFirst string, wantN int) {
		t.Helper()
		first, n := store.StatsQuery{From: at(from), To: at(to), Granularity: g}.Buckets()
		if got := time.Unix(first, 0).UTC().Format(time.RFC3339); got != wantFirst || n != wantN {
			t.Errorf("%s..%s %s: first %s n %d, want %s %d", from, to, g, got, n, wantFirst, wantN)
		}
	}
	f("2026-11-23T10:00:00Z", "2026-11-23T13:00:00Z", store.Hour, "2026-11-23T10:00:00Z", 3) // to on a boundary is excluded
	f("2026-11-23T10:30:00Z", "2026-11-23T13:00:01Z", store.Hour, "2026-11-23T10:00:00Z", 4) // widened both ways
	f("2026-11-23T10:00:00Z", "2026-11-23T10:00:01Z", store.Minute, "2026-11-23T10:00:00Z", 1)
	f("2026-11-23T10:00:00Z", "2026-11-24T10:00:00Z", store.Day, "2026-11-23T00:00:00Z", 2)
	f("2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z", store.Minute, "2026-11-23T10:00:00Z", 0)
	f("2026-11-23T10:00:00.2Z", "2026-11-23T10:00:00.7Z", store.Minute, "2026-11-23T10:00:00Z", 1) // fractions of a second round out
	f("1969-12-31T23:59:30Z", "1970-01-01T00:00:30Z", store.Minute, "1969-12-31T23:59:00Z", 2)     // before the epoch rounds down too

	for _, g := range store.Granularities {
		if p, ok := store.ParseGranularity(g.String()); !ok || p != g {
			t.Errorf("ParseGranularity(%q) = %v %v", g, p, ok)
		}
	}
	if _, ok := store.ParseGranularity("week"); ok {
		t.Error("week parsed")
	}
}

func TestFieldsAndAssemble(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	d := NewDelta()
	evs := []analytics.Decoded{
		{Code: "a", Time: base.UnixNano(), Country: "US", Device: analytics.DeviceIOS, ReferrerHost: "news.example", Target: analytics.TargetDestination, IPHash: 1},
		{Code: "a", Time: base.Add(90 * time.Second).UnixNano(), Device: analytics.DeviceAndroid, Target: analytics.TargetRule, Rule: 2, IPHash: 2, Source: analytics.SourceQR},
		{Code: "a", Time: base.Add(2 * time.Minute).UnixNano(), Bot: true, Target: analytics.TargetVariantCookie, Variant: "blue", IPHash: 3},
		{Code: "b", Domain: "go.example", Time: base.UnixNano(), Target: analytics.TargetExpired},
	}
	for i := range evs {
		d.Add(&evs[i])
	}
	if d.Events != 4 {
		t.Fatalf("events %d", d.Events)
	}
	hour := d.Counts[BucketKey{G: store.Hour, Start: base.Unix(), Link: store.LinkKey("", "a")}]
	want := map[string]int64{"h": 2, "b": 1, "hc:US": 1, "hc:--": 1, "bc:--": 1, "hd:ios": 1, "hd:android": 1, "bd:unknown": 1,
		"hr:news.example": 1, "hr:(direct)": 1, "br:(direct)": 1, "ht:destination": 1, "ht:rule:2": 1, "bt:variant:blue": 1,
		"hs:link": 1, "hs:qr": 1, "bs:link": 1}
	for k, v := range want {
		if hour[k] != v {
			t.Errorf("field %s = %d, want %d (%v)", k, hour[k], v, hour)
		}
	}
	if len(hour) != len(want) {
		t.Errorf("fields %v, want %v", hour, want)
	}
	if v := d.Uniques[BucketKey{G: store.Day, Start: store.Day.Truncate(base.Unix()), Link: store.LinkKey("", "a")}]; len(v.All) != 3 || len(v.Human) != 2 {
		t.Errorf("visitors %+v", v)
	}
	if _, ok := d.Uniques[BucketKey{G: store.Day, Start: store.Day.Truncate(base.Unix()), Link: store.LinkKey("go.example", "b")}]; ok {
		t.Error("an event without an IP hash made a visitor")
	}

	// Assemble three minute buckets from the per-minute counters.
	q := store.StatsQuery{Code: "a", From: base, To: base.Add(3 * time.Minute), Granularity: store.Minute}
	var buckets []map[string]int64
	for i := 0; i < 3; i++ {
		buckets = append(buckets, d.Counts[BucketKey{G: store.Minute, Start: base.Unix() + int64(i)*60, Link: store.LinkKey("", "a")}])
	}
	st := Assemble(q, buckets, []int64{1, 1, 1}, 3)
	if st.Total != 3 || st.Series[1].Total != 1 || st.Series[2].Total != 1 || st.UniqueVisitors != 3 ||
		st.Breakdowns["bot"]["bot"] != 1 || st.Breakdowns["target"]["variant:blue"] != 1 || st.Breakdowns["country"]["--"] != 2 {
		t.Fatalf("assembled %+v", st)
	}
	// Each bucket tells QR scans from links and people from bots.
	for i, want := range []store.StatsPoint{{Total: 1, Link: 1, Humans: 1}, {Total: 1, QR: 1, Humans: 1}, {Total: 1, Link: 1, Bots: 1}} {
		if p := st.Series[i]; p.Total != want.Total || p.QR != want.QR || p.Link != want.Link || p.Humans != want.Humans || p.Bots != want.Bots {
			t.Errorf("point %d: %+v, want %+v", i, p, want)
		}
	}
	q.ExcludeBots = true
	st = Assemble(q, buckets, nil, 2)
	if st.Total != 2 || st.Series[2].Total != 0 || st.Breakdowns["bot"]["bot"] != 0 || st.Breakdowns["target"]["variant:blue"] != 0 {
		t.Fatalf("without bots %+v", st)
	}
	if p := st.Series[2]; p.Bots != 0 || p.Link != 0 || p.QR != 0 {
		t.Fatalf("without bots the bot's bucket shows %+v", p)
	}
	if !st.From.Equal(base) || !st.To.Equal(base.Add(3*time.Minute)) || len(st.Series) != 3 {
		t.Fatalf("range %s..%s, %d points", st.From, st.To, len(st.Series))
	}

	top := AssembleTop(store.StatsQuery{From: base, To: base.Add(time.Hour), Granularity: store.Hour, Limit: 1},
		map[string]int64{store.LinkKey("", "a"): 3, store.LinkKey("go.example", "b"): 5, store.LinkKey("", "z"): 0})
	if len(top.Links) != 1 || top.Links[0].Code != "b" || top.Links[0].Domain != "go.example" || top.Links[0].Total != 5 {
		t.Fatalf("top %+v", top.Links)
	}
}

func TestBrake(t *testing.T) {
	b := NewBrake(nil)
	if b.Paused() || b.Wait(context.Background()) != nil {
		t.Fatal("a new brake is engaged")
	}
	select {
	case <-b.Released():
	default:
		t.Fatal("Released of a free brake is not closed")
	}
	if !b.Pause() || b.Pause() {
		t.Fatal("Pause did not report the change once")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); err == nil {
		t.Fatal("Wait returned while engaged")
	}
	done := make(chan error)
	go func() { done <- b.Wait(context.Background()) }()
	if !b.Resume() || b.Resume() {
		t.Fatal("Resume did not report the change once")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestBrakeHalted: Halted closes once the brake is engaged and the batches
// in hand have ended, and no batch begins while it is engaged.
func TestBrakeHalted(t *testing.T) {
	b := NewBrake(nil)
	// wantClosed fails the test with why unless c is closed (want) or
	// open (!want).
	wantClosed := func(c <-chan struct{}, want bool, why string) {
		t.Helper()
		closed := false
		select {
		case <-c:
			closed = true
		default:
		}
		if closed != want {
			t.Fatal(why)
		}
	}
	wantClosed(b.Halted(), false, "a released brake is halted")
	for range 2 { // two batches at once
		if !b.Begin() {
			t.Fatal("a released brake refused a batch")
		}
	}
	halted := b.Halted()
	b.Pause()
	if b.Begin() {
		t.Fatal("an engaged brake let a batch begin")
	}
	b.End()
	wantClosed(halted, false, "halted with a batch still in hand")
	b.End()
	wantClosed(halted, true, "not halted after the last batch ended")
	wantClosed(b.Halted(), true, "not halted after the last batch ended")
	b.Resume()
	wantClosed(b.Halted(), false, "a resumed brake is still halted")
	// Engaged with nothing in hand: halted at once.
	b.Pause()
	wantClosed(b.Halted(), true, "an idle engaged brake is not halted")
	// Released before the batch in hand ended: the next engagement halts
	// when that batch ends.
	b.Resume()
	b.Begin()
	b.Pause()
	b.Resume()
	b.Pause()
	wantClosed(b.Halted(), false, "halted with a batch in hand")
	b.End()
	wantClosed(b.Halted(), true, "not halted after the batch ended")
}

func TestRetention(t *testing.T) {
	r := DefaultRetention()
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Unix()
	if got := r.ExpireAt(store.Hour, start); got != start+3600+90*86400 {
		t.Fatalf("hour bucket expires at %d", got)
	}
}
