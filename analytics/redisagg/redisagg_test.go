package redisagg

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/redisstore"
)

// base is the time of the first test event; the store's clock stands
// three hours later (after the last one), whatever the real date is.
var base = testclock.Date(2026, 11, 23, 10, 0, 0)

// event i: codes a, b, c; every 5th a bot; countries US/DE; a visitor per
// i%50; times spread over 3 hours.
func event(i int) analytics.Decoded {
	e := analytics.Decoded{SchemaVersion: 1, Code: []string{"a", "b", "c"}[i%3], Time: base.Add(time.Duration(i) * 10 * time.Second).UnixNano(),
		Target: analytics.TargetDestination, Device: analytics.DeviceIOS, Bot: i%5 == 0, IPHash: uint64(i%50 + 1)}
	copy(e.ID[:8], "producer")
	binary.BigEndian.PutUint64(e.ID[8:], uint64(i+1))
	if i%2 == 0 {
		e.Country = "US"
	} else {
		e.Country = "DE"
	}
	if i%7 == 0 {
		e.Target, e.Variant = analytics.TargetVariant, "blue"
	}
	return e
}

func newStore(t *testing.T, addr string) *Store {
	c, _, err := redisstore.NewClient(redisstore.ClientConfig{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg := DefaultConfig()
	cfg.Now = testclock.At(base.Add(3 * time.Hour)).Now
	return New(c, cfg)
}

func TestApplyExactAndStats(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		srv := redistest.MustStart(t, redistest.Options{})
		testApply(t, newStore(t, srv.Addr()))
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster in the long run only (-short)")
		}
		cl := redistest.MustStartCluster(t)
		testApply(t, newStore(t, "redis-cluster://"+cl.Addrs()))
	})
}

func testApply(t *testing.T, s *Store) {
	ctx := context.Background()
	const n = 1000
	if err := s.CheckTopic(ctx, "scans"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTopic(ctx, "other"); err == nil {
		t.Fatal("a second topic was accepted")
	}
	if err := s.AddPartitions(ctx, []int{0, 1}); err != nil {
		t.Fatal(err)
	}
	// Partition 0 gets even events, partition 1 odd ones, in batches of 100
	// with offsets 0, 1, 2...
	var want [2][]analytics.Decoded
	for i := 0; i < n; i++ {
		want[i%2] = append(want[i%2], event(i))
	}
	for p := 0; p < 2; p++ {
		evs := want[p]
		for off := 0; off < len(evs); off += 100 {
			res, err := s.Apply(ctx, p, int64(off)-1, int64(off+99), evs[off:off+100])
			if err != nil || res.Applied != 100 || res.Duplicates != 0 {
				t.Fatalf("apply p%d@%d: %+v %v", p, off, res, err)
			}
		}
		// The same batch again (a zombie member, or one restarted from an
		// older offset) is stale, and so is a batch that skips ahead.
		if _, err := s.Apply(ctx, p, 399, 499, evs[400:500]); !errors.Is(err, aggregate.ErrStale) {
			t.Fatalf("re-applied batch: %v", err)
		}
		if _, err := s.Apply(ctx, p, 599, 699, evs[:100]); !errors.Is(err, aggregate.ErrStale) {
			t.Fatalf("batch after a gap: %v", err)
		}
		if last, ok, err := s.Offset(ctx, p); err != nil || !ok || last != 499 {
			t.Fatalf("offset of p%d = %d %v %v", p, last, ok, err)
		}
	}
	// Producer duplicates: events 0..9 again at new offsets of partition 0,
	// mixed with two new ones (and one of them twice in the batch).
	dupBatch := append([]analytics.Decoded{}, want[0][:10]...)
	e1, e2 := event(n), event(n+2)
	dupBatch = append(dupBatch, e1, e2, e2)
	res, err := s.Apply(ctx, 0, 499, 512, dupBatch)
	if err != nil || res.Applied != 2 || res.Duplicates != 11 {
		t.Fatalf("duplicates batch: %+v %v", res, err)
	}
	total := n + 2

	q := store.StatsQuery{Code: "a", From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour}
	var wantA, wantAHuman, wantUS, wantVariant int64
	visitors := map[uint64]bool{}
	for i := 0; i < total+1; i++ {
		if i == n+1 || (i%3 != 0) {
			continue
		}
		e := event(i)
		wantA++
		visitors[e.IPHash] = true
		if !e.Bot {
			wantAHuman++
		}
		if e.Country == "US" {
			wantUS++
		}
		if e.Variant == "blue" {
			wantVariant++
		}
	}
	st, err := s.LinkStats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != wantA || st.Breakdowns["country"]["US"] != wantUS || st.Breakdowns["target"]["variant:blue"] != wantVariant {
		t.Fatalf("stats of a: total %d US %d variant %d, want %d %d %d", st.Total, st.Breakdowns["country"]["US"], st.Breakdowns["target"]["variant:blue"], wantA, wantUS, wantVariant)
	}
	if len(st.Series) != 3 || st.Series[0].Total+st.Series[1].Total+st.Series[2].Total != wantA {
		t.Fatalf("series %+v", st.Series)
	}
	if d := st.UniqueVisitors - int64(len(visitors)); d < -1 || d > 1 { // HyperLogLog is exact-ish at this size
		t.Fatalf("unique visitors %d, want about %d", st.UniqueVisitors, len(visitors))
	}
	q.ExcludeBots = true
	if st, err = s.LinkStats(ctx, q); err != nil || st.Total != wantAHuman || st.Breakdowns["bot"]["bot"] != 0 {
		t.Fatalf("humans of a: %d (%v), want %d", st.Total, err, wantAHuman)
	}
	// Minute buckets sum to the same.
	q = store.StatsQuery{Code: "a", From: base, To: base.Add(3 * time.Hour), Granularity: store.Minute}
	if st, err = s.LinkStats(ctx, q); err != nil || st.Total != wantA || len(st.Series) != 180 {
		t.Fatalf("minutes of a: %d points, total %d (%v)", len(st.Series), st.Total, err)
	}
	top, err := s.Top(ctx, store.StatsQuery{From: base, To: base.Add(24 * time.Hour), Granularity: store.Day, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, l := range top.Links {
		sum += l.Total
	}
	if len(top.Links) != 2 || top.Links[0].Total < top.Links[1].Total || sum > int64(total) {
		t.Fatalf("top %+v", top.Links)
	}
	all, _ := s.Top(ctx, store.StatsQuery{From: base, To: base.Add(24 * time.Hour), Granularity: store.Day})
	sum = 0
	for _, l := range all.Links {
		sum += l.Total
	}
	if sum != int64(total) {
		t.Fatalf("top totals sum to %d, want %d", sum, total)
	}

	// Purging a's stats removes its counters, visitors and top entries in
	// every partition (and on every master of a Cluster); b is untouched.
	qb := store.StatsQuery{Code: "b", From: base, To: base.Add(3 * time.Hour), Granularity: store.Minute}
	before, err := s.LinkStats(ctx, qb)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.PurgeStats(ctx, "", "a")
	if err != nil || removed == 0 {
		t.Fatalf("PurgeStats: %d keys, %v", removed, err)
	}
	for _, g := range store.Granularities {
		st, err := s.LinkStats(ctx, store.StatsQuery{Code: "a", From: base, To: base.Add(3 * time.Hour), Granularity: g})
		if err != nil || st.Total != 0 || st.UniqueVisitors != 0 {
			t.Fatalf("a after purge (%s): total %d visitors %d, %v", g, st.Total, st.UniqueVisitors, err)
		}
	}
	after, err := s.LinkStats(ctx, qb)
	if err != nil || after.Total != before.Total || after.UniqueVisitors != before.UniqueVisitors {
		t.Fatalf("b changed by a's purge: %d/%d visitors %d/%d, %v", after.Total, before.Total, after.UniqueVisitors, before.UniqueVisitors, err)
	}
	all, _ = s.Top(ctx, store.StatsQuery{From: base, To: base.Add(24 * time.Hour), Granularity: store.Day})
	sum = 0
	for _, l := range all.Links {
		if l.Code == "a" {
			t.Fatalf("a is still in the top list: %+v", all.Links)
		}
		sum += l.Total
	}
	if sum != int64(total)-wantA {
		t.Fatalf("top totals after purge sum to %d, want %d", sum, int64(total)-wantA)
	}
}

func BenchmarkApply(b *testing.B) {
	srv := redistest.MustStart(b, redistest.Options{})
	c, _, _ := redisstore.NewClient(redisstore.ClientConfig{Addr: srv.Addr()})
	defer c.Close()
	s := New(c, DefaultConfig())
	ctx := context.Background()
	const batch = 1000
	evs := make([]analytics.Decoded, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range evs {
			k := i*batch + j
			evs[j] = event(k)
			evs[j].Code = []string{"a", "b", "c", "d", "e", "f", "g", "h"}[k%8]
			evs[j].Time = time.Now().UnixNano()
		}
		if _, err := s.Apply(ctx, 0, int64(i*batch)-1, int64(i*batch+batch-1), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// TestExpiryFollowsClock: keys live for their retention counted from the
// store's clock, not from Redis's, and a bucket whose retention has ended
// by that clock is not kept.
func TestExpiryFollowsClock(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	c, _, err := redisstore.NewClient(redisstore.ClientConfig{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	clock := testclock.At(base.Add(30 * time.Second))
	cfg := DefaultConfig()
	cfg.Now = clock.Now
	s := New(c, cfg)
	ctx := context.Background()
	if _, err := s.Apply(ctx, 0, -1, 0, []analytics.Decoded{event(0)}); err != nil {
		t.Fatal(err)
	}
	// The minute bucket of event 0 starts at base; it is kept 48 h after
	// its end, that is 48 h 30 s from the clock.
	minute := s.countKey("0", store.Minute, base.Unix(), "a|")
	want := cfg.Retention[store.Minute] + 30*time.Second
	if ttl, err := c.PTTL(ctx, minute).Result(); err != nil || ttl > want || ttl < want-time.Minute {
		t.Fatalf("ttl of %s = %v (%v), want about %v", minute, ttl, err, want)
	}
	uniq := s.uniqKey(store.LinkKey("", "a"), store.Minute, base.Unix(), false)
	if ttl, err := c.PTTL(ctx, uniq).Result(); err != nil || ttl > want || ttl < want-time.Minute {
		t.Fatalf("ttl of %s = %v (%v), want about %v", uniq, ttl, err, want)
	}
	// Three days later by the store's clock, an event of base's minute is
	// past the minute retention: its minute counters are not kept, its
	// hour and day counters are.
	clock.Add(72 * time.Hour)
	e := event(3)
	e.Time = base.UnixNano()
	if _, err := s.Apply(ctx, 0, 0, 1, []analytics.Decoded{e}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, minute, uniq).Result(); err != nil || n != 0 {
		t.Fatalf("%d minute keys past their retention exist (%v)", n, err)
	}
	if err := s.AddPartitions(ctx, []int{0}); err != nil {
		t.Fatal(err)
	}
	for g, want := range map[store.Granularity]int64{store.Minute: 0, store.Hour: 2, store.Day: 2} {
		st, err := s.LinkStats(ctx, store.StatsQuery{Code: "a", From: base, To: base.Add(time.Minute), Granularity: g})
		if err != nil || st.Total != want {
			t.Fatalf("%s total %d (%v), want %d", g, st.Total, err, want)
		}
	}
}

// TestLinkIdentity: a code deleted and created again is another link:
// each link's stats hold its own scans, legacy scans (recorded without the
// creation time) count for the link that holds the code from its
// creation on, the top list names each link, and a purge removes them all.
func TestLinkIdentity(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	s := newStore(t, srv.Addr())
	ctx := context.Background()
	if err := s.AddPartitions(ctx, []int{0}); err != nil {
		t.Fatal(err)
	}
	first, second := base.Add(time.Hour), base.Add(2*time.Hour)
	var evs []analytics.Decoded
	add := func(n int, at time.Time, created time.Time) {
		for range n {
			e := event(len(evs))
			e.Code, e.Time, e.Bot = "x", at.Add(time.Duration(len(evs))*time.Second).UnixNano(), false
			if !created.IsZero() {
				e.LinkCreated = created.UnixNano()
			}
			evs = append(evs, e)
		}
	}
	add(3, base, time.Time{})             // legacy, before the first link was created
	add(5, first, time.Time{})            // legacy, of the first link
	add(7, first.Add(time.Minute), first) // the first link
	add(11, second, second)               // the second link, same code
	if _, err := s.Apply(ctx, 0, -1, int64(len(evs)-1), evs); err != nil {
		t.Fatal(err)
	}
	q := store.StatsQuery{Code: "x", From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour}
	for _, c := range []struct {
		created time.Time
		want    int64
	}{{first, 5 + 7}, {second, 11}, {time.Time{}, 3 + 5}} {
		q.Created = c.created
		st, err := s.LinkStats(ctx, q)
		if err != nil || st.Total != c.want {
			t.Fatalf("created %v: total %d (%v), want %d", c.created, st.Total, err, c.want)
		}
		if !c.created.IsZero() && (st.CreatedAt == nil || !st.CreatedAt.Equal(c.created)) {
			t.Fatalf("created_at %v, want %v", st.CreatedAt, c.created)
		}
	}
	top, err := s.Top(ctx, store.StatsQuery{From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour})
	if err != nil || len(top.Links) != 3 {
		t.Fatalf("top %+v (%v), want 3 links of x", top, err)
	}
	if l := top.Links[0]; l.Total != 11 || l.CreatedAt == nil || !l.CreatedAt.Equal(second) {
		t.Fatalf("top entry %+v, want the second link with 11", l)
	}
	if n, err := s.PurgeStats(ctx, "", "x"); err != nil || n == 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
	top, _ = s.Top(ctx, store.StatsQuery{From: base, To: base.Add(3 * time.Hour), Granularity: store.Hour})
	q.Created = second
	st, _ := s.LinkStats(ctx, q)
	if len(top.Links) != 0 || st.Total != 0 || st.UniqueVisitors != 0 {
		t.Fatalf("after the purge: top %+v, second link %d scans %d visitors", top.Links, st.Total, st.UniqueVisitors)
	}
}
