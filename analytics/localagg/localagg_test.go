package localagg

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig has the default retention and a clock standing at base, so
// no test event (all at or after base) is past its retention.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Poll = 5 * time.Millisecond
	cfg.FlushInterval = 5 * time.Millisecond // tests read the file and the applied count
	cfg.Now = testclock.At(base).Now
	return cfg
}

// env is an aggregator over real files in a directory.
type env struct {
	dir string
	db  *bolt.DB
	sp  *spool.Spool
	a   *Aggregator
	m   *aggregate.Metrics
	br  *aggregate.Brake
}

// mustOpen opens the database and spool in dir and an aggregator on them
// (not started); tb.Cleanup closes them.
func mustOpen(tb testing.TB, dir string, cfg Config, segBytes int64) *env {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(dir, "qredge.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), 1<<30, segBytes)
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	m := aggregate.NewMetrics()
	br := aggregate.NewBrake(m.Paused)
	a, err := Open(db, sp, cfg, m, br, quietLog())
	if err != nil {
		sp.Close()
		db.Close()
		tb.Fatal(err)
	}
	e := &env{dir: dir, db: db, sp: sp, a: a, m: m, br: br}
	tb.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.a.Close()
	e.sp.Close()
	e.db.Close()
}

func (e *env) applied() int { return int(testutil.ToFloat64(e.m.Applied)) }
func (e *env) poison() int  { return int(testutil.ToFloat64(e.m.Poison)) }
func (e *env) lag() float64 { return testutil.ToFloat64(e.m.LagBytes) }
func (e *env) batches() int { return int(testutil.ToFloat64(e.m.Batches)) }

// waitApplied waits until the aggregator has read n events (applied or
// poison) and caught up with the spool.
func (e *env) waitApplied(tb testing.TB, n int) {
	tb.Helper()
	testwait.For(tb, 20*time.Second, fmt.Sprintf("%d events applied or poison, and no lag", n), func() bool {
		return e.applied()+e.poison() == n && e.lag() == 0
	})
}

var base = testclock.Date(2026, 3, 9, 0, 0, 0)

var (
	testLinks     = []string{store.LinkKey("", "promo"), store.LinkKey("", "menu"), store.LinkKey("go.example", "promo"), store.LinkKey("go.example", "a-b_c"), store.LinkKey("qr.example", "x")}
	testCountries = []string{"US", "DE", "FR", "", "JP"}
	testRefs      = []string{"", "www.example.com", "t.co", "news.example"}
	testVariants  = []string{"a", "b"}
)

// genEvents returns n varied events over span from base: several links,
// countries, devices, referrers, bots, rules, variants and visitors.
func genEvents(n int, seed uint64, span time.Duration) []analytics.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	evs := make([]analytics.Event, n)
	for i := range evs {
		e := &evs[i]
		e.Time = base.Add(time.Duration(r.Int64N(int64(span)))).UnixNano()
		e.Key = testLinks[r.IntN(len(testLinks))]
		e.Version = 1
		e.Status = 302
		e.Rule = -1
		switch x := r.IntN(10); {
		case x < 5:
			e.Target = analytics.TargetDestination
		case x < 7:
			e.Target, e.Rule = analytics.TargetRule, int16(r.IntN(3))
		case x < 9:
			e.Target, e.Variant = analytics.TargetVariant, testVariants[r.IntN(2)]
		default:
			e.Target = [...]uint8{analytics.TargetNotYetActive, analytics.TargetExpired, analytics.TargetDisabled}[r.IntN(3)]
		}
		copy(e.Country[:], testCountries[r.IntN(len(testCountries))])
		e.Device = uint8(r.IntN(5))
		e.Bot = r.IntN(5) == 0
		e.Source = uint8(r.IntN(3) / 2) // a third through a QR code
		e.SetReferrer([]byte(testRefs[r.IntN(len(testRefs))]))
		if r.IntN(20) != 0 { // some events carry no IP
			v := r.IntN(3000)
			copy(e.IP[:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, byte(v >> 16), byte(v >> 8), byte(v)})
		}
		e.ID[15] = byte(i)
	}
	return evs
}

// encodeEvents encodes events as the pipeline would.
func encodeEvents(evs []analytics.Event) [][]byte {
	enc := analytics.NewEncoder([]byte("secret"), "edge-1")
	out := make([][]byte, len(evs))
	for i := range evs {
		out[i] = enc.Append(nil, &evs[i])
	}
	return out
}

// appendRecords writes encoded events to the spool, perRecord per batch.
func appendRecords(tb testing.TB, sp *spool.Spool, recs [][]byte, perRecord int) {
	tb.Helper()
	for len(recs) > 0 {
		n := min(perRecord, len(recs))
		if err := sp.Append(recs[:n]); err != nil {
			tb.Fatal(err)
		}
		recs = recs[n:]
	}
}

// want computes a link's stats from events, independently of package
// aggregate: totals by bucket and breakdowns, and the true number of
// distinct visitors (IP, device class and UTC day: the visitor hash
// changes every day).
type want struct {
	total     int64
	series    map[int64]int64 // bucket start -> scans
	breakdown map[string]map[string]int64
	visitors  map[[18]byte]bool
	bucketVis map[int64]map[[18]byte]bool
}

var deviceName = [...]string{"unknown", "ios", "android", "desktop", "other"}

func expect(evs []analytics.Event, link string, g store.Granularity, excludeBots bool) *want {
	w := &want{series: map[int64]int64{}, visitors: map[[18]byte]bool{}, bucketVis: map[int64]map[[18]byte]bool{},
		breakdown: map[string]map[string]int64{"bot": {}, "country": {}, "device": {}, "referrer": {}, "target": {}, "source": {}}}
	for i := range evs {
		e := &evs[i]
		if e.Key != link {
			continue
		}
		if e.Bot {
			if !excludeBots {
				w.breakdown["bot"]["bot"]++
			}
		} else {
			w.breakdown["bot"]["human"]++
		}
		if e.Bot && excludeBots {
			continue
		}
		w.total++
		start := g.Truncate(e.Time / 1e9)
		w.series[start]++
		country := string(e.Country[:])
		if e.Country[0] == 0 {
			country = "--"
		}
		w.breakdown["country"][country]++
		w.breakdown["device"][deviceName[e.Device]]++
		ref := string(e.Ref[:e.RefLen])
		if ref == "" {
			ref = "(direct)"
		}
		w.breakdown["referrer"][ref]++
		w.breakdown["source"][map[uint8]string{analytics.SourceLink: "link", analytics.SourceQR: "qr"}[e.Source]]++
		target := "destination"
		switch e.Target {
		case analytics.TargetRule:
			target = fmt.Sprintf("rule:%d", e.Rule)
		case analytics.TargetVariant:
			target = "variant:" + e.Variant
		case analytics.TargetNotYetActive:
			target = "not_yet_active"
		case analytics.TargetExpired:
			target = "expired"
		case analytics.TargetDisabled:
			target = "disabled"
		}
		w.breakdown["target"][target]++
		if e.IP != ([16]byte{}) {
			var v [18]byte
			copy(v[:], e.IP[:])
			v[16] = byte(e.Time / (24 * 3600 * 1e9))
			v[17] = e.Device
			w.visitors[v] = true
			if w.bucketVis[start] == nil {
				w.bucketVis[start] = map[[18]byte]bool{}
			}
			w.bucketVis[start][v] = true
		}
	}
	return w
}

// near reports whether an estimate is within 2% (and 2) of the truth:
// HyperLogLog of precision 14 has a standard error of 0.8%.
func near(got int64, truth int) bool {
	d := float64(got - int64(truth))
	return d <= 2+0.02*float64(truth) && -d <= 2+0.02*float64(truth)
}

// checkStats compares the aggregator's answers with the events, for every
// link, granularity and bot setting.
func checkStats(tb testing.TB, a *Aggregator, evs []analytics.Event, span time.Duration) {
	tb.Helper()
	ctx := context.Background()
	for _, g := range store.Granularities {
		for _, excl := range []bool{false, true} {
			totals := map[string]int64{}
			for _, link := range testLinks {
				code, domain := splitLink(link)
				q := store.StatsQuery{Domain: domain, Code: code, From: base, To: base.Add(span), Granularity: g, ExcludeBots: excl}
				st, err := a.LinkStats(ctx, q)
				if err != nil {
					tb.Fatal(err)
				}
				w := expect(evs, link, g, excl)
				totals[link] = w.total
				if st.Total != w.total {
					tb.Fatalf("%s %s excludeBots=%v: total %d, want %d", link, g, excl, st.Total, w.total)
				}
				for _, p := range st.Series {
					if p.Total != w.series[p.Time.Unix()] {
						tb.Fatalf("%s %s excludeBots=%v: bucket %s has %d, want %d", link, g, excl, p.Time, p.Total, w.series[p.Time.Unix()])
					}
					if truth := len(w.bucketVis[p.Time.Unix()]); !near(p.UniqueVisitors, truth) {
						tb.Fatalf("%s %s bucket %s: %d unique visitors, want about %d", link, g, p.Time, p.UniqueVisitors, truth)
					}
				}
				if !reflect.DeepEqual(st.Breakdowns, w.breakdown) {
					tb.Fatalf("%s %s excludeBots=%v: breakdowns\n%v\nwant\n%v", link, g, excl, st.Breakdowns, w.breakdown)
				}
				if !near(st.UniqueVisitors, len(w.visitors)) {
					tb.Fatalf("%s %s excludeBots=%v: %d unique visitors, want about %d", link, g, excl, st.UniqueVisitors, len(w.visitors))
				}
			}
			top, err := a.Top(ctx, store.StatsQuery{From: base, To: base.Add(span), Granularity: g, ExcludeBots: excl})
			if err != nil {
				tb.Fatal(err)
			}
			got := map[string]int64{}
			for i, l := range top.Links {
				got[store.LinkKey(l.Domain, l.Code)] = l.Total
				if i > 0 && l.Total > top.Links[i-1].Total {
					tb.Fatalf("top not sorted: %v", top.Links)
				}
			}
			maps.DeleteFunc(totals, func(_ string, v int64) bool { return v == 0 })
			if !reflect.DeepEqual(got, totals) {
				tb.Fatalf("top %s excludeBots=%v: %v, want %v", g, excl, got, totals)
			}
		}
	}
}

func splitLink(link string) (code, domain string) {
	for i := 0; i < len(link); i++ {
		if link[i] == 0 {
			return link[:i], link[i+1:]
		}
	}
	return link, ""
}

// TestExact counts events spread over two days into every granularity and
// checks every number of the answers against the events.
func TestExact(t *testing.T) {
	const n = 20000
	span := 50 * time.Hour
	e := mustOpen(t, t.TempDir(), testConfig(), 256<<10)
	evs := genEvents(n, 1, span)
	recs := encodeEvents(evs)
	// Half before the start, half while it runs, in records of varied size.
	appendRecords(t, e.sp, recs[:n/2], 700)
	e.a.Start()
	appendRecords(t, e.sp, recs[n/2:], 333)
	e.waitApplied(t, n)
	checkStats(t, e.a, evs, span)
	if e.poison() != 0 {
		t.Fatalf("%d poison events", e.poison())
	}
	// Applied segments are removed, except the one at the position.
	segs, _ := e.sp.Segments()
	if len(segs) != 1 {
		t.Fatalf("%d segments left: %v", len(segs), segs)
	}
	// A restart neither loses nor counts again.
	e.a.Close()
	a2, err := Open(e.db, e.sp, testConfig(), nil, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	a2.Start()
	time.Sleep(50 * time.Millisecond)
	a2.Close()
	checkStats(t, a2, evs, span)
	t.Logf("%d events in %d batches", n, e.batches())
}

// TestQueryEdges: an empty range and unknown links give empty answers.
func TestQueryEdges(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 1<<20)
	ctx := context.Background()
	q := store.StatsQuery{Code: "none", From: base, To: base, Granularity: store.Hour}
	st, err := e.a.LinkStats(ctx, q)
	if err != nil || st.Total != 0 || len(st.Series) != 0 {
		t.Fatalf("empty range: %+v %v", st, err)
	}
	top, err := e.a.Top(ctx, q)
	if err != nil || len(top.Links) != 0 {
		t.Fatalf("empty top: %+v %v", top, err)
	}
	q.To = base.Add(3 * time.Hour)
	if st, err = e.a.LinkStats(ctx, q); err != nil || st.Total != 0 || len(st.Series) != 3 {
		t.Fatalf("unknown link: %+v %v", st, err)
	}
	q.Granularity = 7
	if _, err := e.a.LinkStats(ctx, q); err == nil {
		t.Fatal("bad granularity accepted")
	}
}

// TestPipeline runs the real pipeline without a sink into the spool, and
// checks the counts and that a scan is visible well within a second.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	cfg := analytics.DefaultConfig()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.SegmentBytes = 64 << 10 // many rotations while the aggregator reads
	p, err := analytics.Start(cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "qredge.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := aggregate.NewMetrics()
	acfg := testConfig()
	acfg.Poll = 100 * time.Millisecond // the default: the append signal must do better
	a, err := Open(db, p.Spool(), acfg, m, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	evs := genEvents(10000, 2, 3*time.Hour)
	for i := range evs {
		for !p.Queue().Enqueue(&evs[i]) {
			time.Sleep(time.Millisecond)
		}
	}
	e := &env{m: m, sp: p.Spool()}
	e.waitApplied(t, len(evs))
	// Freshness of one scan made now.
	ev := genEvents(1, 3, time.Second)[0]
	ev.Time = time.Now().UnixNano()
	ev.Key = store.LinkKey("", "fresh")
	start := time.Now()
	p.Queue().Enqueue(&ev)
	e.waitApplied(t, len(evs)+1)
	fresh := time.Since(start)
	a.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	checkStats(t, a, evs, 3*time.Hour)
	t.Logf("one scan visible after %v (pipeline linger %v)", fresh, cfg.Linger)
	if fresh > 500*time.Millisecond {
		t.Fatalf("a scan took %v to be counted", fresh)
	}
}

// TestPoison: undecodable events are counted as poison and skipped.
func TestPoison(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 1<<20)
	evs := genEvents(300, 4, time.Hour)
	recs := encodeEvents(evs)
	bad := [][]byte{{0xff, 0xff, 0xff}, {}, []byte("not a scan event")}
	mixed := append([][]byte{}, recs[:100]...)
	mixed = append(mixed, bad[0])
	mixed = append(mixed, recs[100:200]...)
	mixed = append(mixed, bad[1], bad[2])
	mixed = append(mixed, recs[200:]...)
	appendRecords(t, e.sp, mixed, 60)
	e.a.Start()
	e.waitApplied(t, len(mixed))
	if e.poison() != 3 || e.applied() != 300 {
		t.Fatalf("poison %d applied %d", e.poison(), e.applied())
	}
	checkStats(t, e.a, evs, time.Hour)
}

// TestDamagedSealedSegment: the aggregator counts the intact records
// before the damage and goes on with the next segment.
func TestDamagedSealedSegment(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool"), 1<<30, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	evs := genEvents(500, 5, time.Hour)
	recs := encodeEvents(evs)
	appendRecords(t, sp, recs[:300], 100) // segment 0: three records
	sp.Close()
	segs, _ := sp.Segments()
	path := filepath.Join(dir, "spool", segs[0].Name)
	data, _ := os.ReadFile(path)
	data[len(data)*1/2] ^= 0xff // inside the second record
	os.WriteFile(path, data, 0o600)

	e := mustOpen(t, dir, testConfig(), 1<<20)
	appendRecords(t, e.sp, recs[300:], 100) // segment 1
	e.a.Start()
	e.waitApplied(t, 300)
	want := append(append([]analytics.Event{}, evs[:100]...), evs[300:]...)
	checkStats(t, e.a, want, time.Hour)
	segs, _ = e.sp.Segments()
	if len(segs) != 1 || segs[0].Seq != 1 {
		t.Fatalf("segments left: %v", segs)
	}
	if e.lag() != 0 {
		t.Fatalf("lag %v", e.lag())
	}
}

// TestBrake: while paused nothing is applied and the lag grows; after
// the resume every event is counted once.
func TestBrake(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 64<<10)
	evs := genEvents(4000, 6, 2*time.Hour)
	recs := encodeEvents(evs)
	e.a.Start()
	appendRecords(t, e.sp, recs[:1000], 100)
	e.waitApplied(t, 1000)
	e.br.Pause()
	select { // the batch in hand finishes
	case <-e.br.Halted():
	case <-time.After(10 * time.Second):
		t.Fatal("the aggregator did not halt")
	}
	appendRecords(t, e.sp, recs[1000:], 100)
	time.Sleep(300 * time.Millisecond)
	if e.applied() != 1000 {
		t.Fatalf("applied %d while paused", e.applied())
	}
	if testutil.ToFloat64(e.m.Paused) != 1 {
		t.Fatal("paused gauge not set")
	}
	testwait.For(t, 5*time.Second, "lag while paused", func() bool { return e.lag() != 0 })
	e.br.Resume()
	e.waitApplied(t, 4000)
	checkStats(t, e.a, evs, 2*time.Hour)
}

// TestLagIsBytes: the embedded log's lag is in bytes, under a name that
// says so, and is no partition of the lag in events (Kafka's).
func TestLagIsBytes(t *testing.T) {
	e := mustOpen(t, t.TempDir(), testConfig(), 64<<10)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.m.Collectors()...)
	e.br.Pause()
	e.a.Start()
	recs := encodeEvents(genEvents(100, 3, time.Hour))
	appendRecords(t, e.sp, recs, 10)
	var size int
	for _, r := range recs {
		size += len(r)
	}
	want := fmt.Sprintf("\n# HELP qredge_analytics_lag_bytes Bytes of the embedded event log (the spool of qredge serve) not yet applied.\n# TYPE qredge_analytics_lag_bytes gauge\nqredge_analytics_lag_bytes %d\n", e.sp.Size())
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.GatherAndCompare(reg, strings.NewReader(want), "qredge_analytics_lag_bytes", "qredge_analytics_lag")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records of %d bytes in the spool (%d with framing), paused: %v", len(recs), size, e.sp.Size(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.br.Resume()
	e.waitApplied(t, len(recs))
}

// TestRetention: buckets past their retention are deleted by the loop.
func TestRetention(t *testing.T) {
	cfg := testConfig()
	cfg.Retention = aggregate.Retention{time.Hour, 48 * time.Hour, 30 * 24 * time.Hour}
	cfg.PruneInterval = 20 * time.Millisecond
	now := base.Add(24 * time.Hour)
	cfg.Now = testclock.At(now).Now
	e := mustOpen(t, t.TempDir(), cfg, 1<<20)
	evs := genEvents(2, 7, time.Second)
	evs[0].Time = now.Add(-3 * time.Hour).UnixNano()    // its minute is past the retention
	evs[1].Time = now.Add(-10 * time.Minute).UnixNano() // kept
	evs[0].Key, evs[1].Key = testLinks[0], testLinks[0]
	evs[0].IP, evs[1].IP = [16]byte{15: 1}, [16]byte{15: 2} // both make sketches
	appendRecords(t, e.sp, encodeEvents(evs), 10)
	e.a.Start()
	e.waitApplied(t, 2)
	count := func(g store.Granularity) (stats, uniq int) {
		e.db.View(func(tx *bolt.Tx) error {
			for _, b := range []struct {
				name []byte
				n    *int
			}{{bucketStats, &stats}, {bucketUniq, &uniq}} {
				tx.Bucket(b.name).ForEach(func(k, _ []byte) error {
					if k[0] == g.Letter() {
						*b.n++
					}
					return nil
				})
			}
			return nil
		})
		return stats, uniq
	}
	testwait.For(t, 5*time.Second, "one minute counter and one minute sketch left", func() bool {
		s, u := count(store.Minute)
		return s == 1 && u == 1
	})
	if s, u := count(store.Hour); s != 2 || u != 2 {
		t.Fatalf("%d hour counters, %d sketches, want 2", s, u)
	}
	code, domain := splitLink(testLinks[0])
	st, err := e.a.LinkStats(context.Background(), store.StatsQuery{Code: code, Domain: domain,
		From: now.Add(-4 * time.Hour), To: now, Granularity: store.Minute})
	if err != nil || st.Total != 1 {
		t.Fatalf("minute stats after pruning: total %d, %v", st.Total, err)
	}
	// Pruning by hand at a later time removes the rest.
	if _, err := prune(e.db, cfg.Retention, now.Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, g := range store.Granularities {
		if s, u := count(g); s != 0 || u != 0 {
			t.Fatalf("%s: %d counters, %d sketches left", g, s, u)
		}
	}
}

// TestSpoolEmptied: a spool directory deleted while qredge was stopped
// starts numbering segments from 0 again; the aggregator must still count
// every new event.
func TestSpoolEmptied(t *testing.T) {
	dir := t.TempDir()
	evs := genEvents(3000, 8, time.Hour)
	recs := encodeEvents(evs)
	e := mustOpen(t, dir, testConfig(), 8<<10) // several segments
	appendRecords(t, e.sp, recs[:1000], 50)
	e.a.Start()
	e.waitApplied(t, 1000)
	e.close()
	if err := os.RemoveAll(filepath.Join(dir, "spool")); err != nil {
		t.Fatal(err)
	}
	e = mustOpen(t, dir, testConfig(), 8<<10)
	appendRecords(t, e.sp, recs[1000:], 50)
	e.a.Start()
	e.waitApplied(t, 2000)
	checkStats(t, e.a, evs, time.Hour)
}

// TestPendingVisible: events counted in memory and not written to the
// file yet are in every read at once (LinkStats, Top), and a purge takes
// them too.
func TestPendingVisible(t *testing.T) {
	cfg := testConfig()
	cfg.FlushInterval, cfg.FlushEvents = time.Hour, 1<<30 // nothing written while the test reads
	e := mustOpen(t, t.TempDir(), cfg, 1<<20)
	evs := genEvents(2000, 12, time.Hour)
	appendRecords(t, e.sp, encodeEvents(evs), 20)
	e.a.Start()
	testwait.For(t, 10*time.Second, "every event read", func() bool { return e.a.pendEvents() >= len(evs) })
	if e.applied() != 0 {
		t.Fatalf("%d events written to the file with an hour's flush interval", e.applied())
	}
	checkStats(t, e.a, evs, time.Hour)
	code, domain := splitLink(testLinks[0])
	if _, err := e.a.PurgeStats(context.Background(), domain, code); err != nil {
		t.Fatal(err)
	}
	st, err := e.a.LinkStats(context.Background(), store.StatsQuery{Code: code, Domain: domain, From: base, To: base.Add(time.Hour), Granularity: store.Hour})
	if err != nil || st.Total != 0 {
		t.Fatalf("after the purge: %d (%v)", st.Total, err)
	}
	// Close writes what is pending.
	e.a.Close()
	if e.applied() != len(evs) {
		t.Fatalf("%d events written at Close, want %d", e.applied(), len(evs))
	}
}
