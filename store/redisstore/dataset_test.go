package redisstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

func testLink(t testing.TB, code string) *store.Link {
	t.Helper()
	l := &store.Link{Code: code, Destination: "https://example.com/" + code, Tags: []string{"t"}}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	return l
}

func mustCreate(t testing.TB, s *Store, code string) *store.Link {
	t.Helper()
	l, err := s.CreateLink(context.Background(), testLink(t, code))
	if err != nil {
		t.Fatalf("create %s: %v", code, err)
	}
	return l
}

func wantLost(t testing.TB, err error) {
	t.Helper()
	if store.ErrorCode(err) != store.EDATASETLOST {
		t.Fatalf("got %v, want a dataset_lost error", err)
	}
}

// TestDatasetIdentity: the first link gives the dataset an id that the
// store remembers; a Redis that comes back empty refuses the writes of
// every store that remembers it (and, once an edge reported the loss, of
// every store), while a brand-new deployment works as before.
func TestDatasetIdentity(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	ctx := context.Background()
	api := mustOpen(t, srv.Addr(), "qredge")
	if id, err := api.EnsureDataset(ctx); err != nil || id != "" {
		t.Fatalf("an empty redis has dataset %q (%v)", id, err)
	}
	a := mustCreate(t, api, "a")
	id := api.KnownDataset()
	if id == "" {
		t.Fatal("the first link gave the dataset no id")
	}
	other := mustOpen(t, srv.Addr(), "qredge")
	if got, err := other.EnsureDataset(ctx); err != nil || got != id {
		t.Fatalf("another store sees dataset %q (%v), want %q", got, err, id)
	}

	srv.Do("FLUSHALL") // Redis came back empty
	_, err := api.CreateLink(ctx, testLink(t, "b"))
	wantLost(t, err)
	_, err = api.UpdateLink(ctx, a, 0)
	wantLost(t, err)
	wantLost(t, api.DeleteLink(ctx, "", "a", 0))
	_, _, err = api.CreateLinks(ctx, []*store.Link{testLink(t, "c")}, true)
	wantLost(t, err)
	wantLost(t, api.Seed(ctx, []*store.Link{testLink(t, "c")}))
	if d, _ := api.Dataset(ctx); d.Links != 0 || d.ID != "" {
		t.Fatalf("refused writes changed redis: %+v", d)
	}

	// An edge reports the loss: now a store that never saw the dataset
	// (a restarted api) refuses too, instead of starting a new one.
	if err := api.ReportLost(ctx, id, 41); err != nil {
		t.Fatal(err)
	}
	if err := api.ReportLost(ctx, id, 7); err != nil { // lower reports do not win
		t.Fatal(err)
	}
	fresh := mustOpen(t, srv.Addr(), "qredge")
	_, err = fresh.CreateLink(ctx, testLink(t, "d"))
	wantLost(t, err)
	if d, _ := fresh.Dataset(ctx); d.Lost[id] != 41 {
		t.Fatalf("reported %v, want %s: 41", d.Lost, id)
	}

	// A brand-new deployment (another prefix: nothing remembered, nothing
	// reported) works as before.
	brandNew := mustOpen(t, srv.Addr(), "other")
	if l := mustCreate(t, brandNew, "n"); l.Version != 1 {
		t.Fatalf("the first link of a new dataset has version %d", l.Version)
	}
}

// TestDatasetAdopt: an operator adopts what Redis holds; stores that
// remember the lost id write to the adopted one, and versions continue
// above every version reported.
func TestDatasetAdopt(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	ctx := context.Background()
	api := mustOpen(t, srv.Addr(), "qredge")
	mustCreate(t, api, "a")
	old := api.KnownDataset()
	srv.Do("FLUSHALL")
	if err := api.ReportLost(ctx, old, 1000); err != nil {
		t.Fatal(err)
	}
	op := mustOpen(t, srv.Addr(), "qredge")
	id, err := op.Adopt(ctx)
	if err != nil || id == "" || id == old {
		t.Fatalf("adopted %q (%v)", id, err)
	}
	d, _ := op.Dataset(ctx)
	if !d.SupersedesID(old) || len(d.Lost) != 0 || d.Seq < 1000 {
		t.Fatalf("after adopt: %+v", d)
	}
	l := mustCreate(t, api, "b") // api remembered old: the adopted one supersedes it
	if l.Version <= 1000 || api.KnownDataset() != id {
		t.Fatalf("version %d dataset %q after adopt, want > 1000 and %q", l.Version, api.KnownDataset(), id)
	}
	// Adopting twice keeps the id and what it supersedes.
	if again, err := op.Adopt(ctx); err != nil || again != id {
		t.Fatalf("second adopt: %q %v", again, err)
	}
}

// TestDatasetRestore: links restored under the lost id keep their
// versions and times; stores that remember the id write again, above
// every version restored or reported; a Redis holding another dataset is
// refused.
func TestDatasetRestore(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	ctx := context.Background()
	api := mustOpen(t, srv.Addr(), "qredge")
	var saved []*store.Link
	for i := range 5 {
		saved = append(saved, mustCreate(t, api, fmt.Sprintf("r%d", i)))
	}
	id := api.KnownDataset()
	srv.Do("FLUSHALL")
	if err := api.ReportLost(ctx, id, 9); err != nil {
		t.Fatal(err)
	}
	op := mustOpen(t, srv.Addr(), "qredge")
	if err := op.CheckRestore(ctx, id); err != nil {
		t.Fatal(err)
	}
	noVersion := testLink(t, "new")
	top, err := op.RestoreLinks(ctx, append(append([]*store.Link{}, saved...), noVersion))
	if err != nil {
		t.Fatal(err)
	}
	// Until the id is back, the dataset is still lost.
	_, err = api.CreateLink(ctx, testLink(t, "early"))
	wantLost(t, err)
	if err := op.RestoreFinish(ctx, id, top); err != nil {
		t.Fatal(err)
	}
	for _, want := range saved {
		got, err := api.GetLink(ctx, "", want.Code)
		if err != nil || got.Version != want.Version || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || got.Destination != want.Destination {
			t.Fatalf("restored %+v (%v), want %+v", got, err, want)
		}
	}
	if got, err := api.GetLink(ctx, "", "new"); err != nil || got.Version <= 9 {
		t.Fatalf("a restored link without a version got %+v (%v), want one above the reported 9", got, err)
	}
	l := mustCreate(t, api, "after")
	d, _ := api.Dataset(ctx)
	if l.Version <= top || d.ID != id || len(d.Lost) != 0 {
		t.Fatalf("after the restore: version %d (top %d), dataset %+v", l.Version, top, d)
	}
	page, _ := api.ListLinks(ctx, store.ListOptions{Tag: "t"})
	if len(page.Links) != 7 {
		t.Fatalf("tag index has %d links, want 7", len(page.Links))
	}

	// Another dataset in Redis: no restore over it.
	srv.Do("FLUSHALL")
	mustCreate(t, mustOpen(t, srv.Addr(), "qredge"), "x")
	if err := op.CheckRestore(ctx, id); err == nil {
		t.Fatal("a restore over another dataset was allowed")
	}
}

// mapReplica is a Replica for tests.
type mapReplica struct {
	mu    sync.Mutex
	links map[string]*store.Link
	top   uint64
	ready bool
}

func newMapReplica() *mapReplica { return &mapReplica{links: map[string]*store.Link{}} }

func (r *mapReplica) Apply(c store.Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.top = max(r.top, c.Version)
	k := c.Link.Key()
	if cur, ok := r.links[k]; ok && cur.Version >= c.Version {
		return
	}
	if c.Op == store.OpDelete {
		delete(r.links, k)
		return
	}
	r.links[k] = c.Link
}

func (r *mapReplica) Load(fill func(add func(*store.Link)) error) error {
	m := map[string]*store.Link{}
	var top uint64
	if err := fill(func(l *store.Link) { m[l.Key()] = l; top = max(top, l.Version) }); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links, r.top, r.ready = m, max(r.top, top), true
	return nil
}

func (r *mapReplica) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.links)
}

func (r *mapReplica) VersionOf(domain, code string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.links[store.LinkKey(domain, code)]
	if !ok {
		return 0, false
	}
	return l.Version, true
}

func (r *mapReplica) Each(fn func(domain, code string, version uint64)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.links {
		fn(l.Domain, l.Code, l.Version)
	}
}

func (r *mapReplica) MaxVersion() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.top
}

func waitCond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, 10*time.Second, what, cond)
}

// TestSyncerKeepsLostDataset: a Redis that comes back empty does not empty
// the replica, the periodic resync does not either, the loss is reported,
// and a restore brings the replica back in step.
func TestSyncerKeepsLostDataset(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	ctx := context.Background()
	api := mustOpen(t, srv.Addr(), "qredge")
	for i := range 20 {
		mustCreate(t, api, fmt.Sprintf("s%d", i))
	}
	id := api.KnownDataset()
	edge := mustOpen(t, srv.Addr(), "qredge")
	r := newMapReplica()
	y := NewSyncer(edge, r, SyncConfig{Block: 50 * time.Millisecond, Log: quietLogger()})
	y.Start()
	defer y.Stop()
	waitCond(t, "the first load", y.Ready)
	mustCreate(t, api, "s20") // through the stream
	waitCond(t, "the stream", func() bool { return r.Len() == 21 })
	if y.Dataset() != id {
		t.Fatalf("syncer holds dataset %q, want %q", y.Dataset(), id)
	}

	srv.Do("FLUSHALL")
	waitCond(t, "the loss", func() bool { lost, _, _ := y.DatasetLost(); return lost })
	if n, err := y.Resync(ctx); err != nil || n != 0 {
		t.Fatalf("resync on a lost dataset: %d %v", n, err)
	}
	if r.Len() != 21 {
		t.Fatalf("replica holds %d links after the loss, want 21", r.Len())
	}
	waitCond(t, "the report", func() bool { d, _ := edge.Dataset(ctx); return d.Lost[id] == r.MaxVersion() })
	if st := y.Stats(); st.Refused == 0 || !st.DatasetLost {
		t.Fatalf("stats %+v", st)
	}

	// A restore of 20 of the 21 links (an older export): the replica
	// follows it, and the stream again.
	op := mustOpen(t, srv.Addr(), "qredge")
	var links []*store.Link
	r.Each(func(domain, code string, v uint64) {
		if code != "s20" {
			links = append(links, &store.Link{Code: code, Destination: "https://example.com/" + code, Status: 302, Version: v})
		}
	})
	top, err := op.RestoreLinks(ctx, links)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.RestoreFinish(ctx, id, top); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the restore", func() bool { lost, _, _ := y.DatasetLost(); return !lost && r.Len() == 20 })
	mustCreate(t, api, "s21")
	waitCond(t, "the stream after the restore", func() bool { _, ok := r.VersionOf("", "s21"); return ok })
}

// TestSyncerRegressed: a Redis whose version counter is behind the
// replica (it lost recent writes) is reloaded only if the reload keeps
// most of the replica.
func TestSyncerRegressed(t *testing.T) {
	f := func(held, inRedis int, seq, top uint64, wantRefused bool) {
		t.Helper()
		d := &DatasetInfo{ID: "x", Links: int64(inRedis), Seq: seq}
		reason, regressed := judge(d, "x", held, top)
		refused := reason != "" && (!regressed || dropsMost(held, inRedis))
		if refused != wantRefused {
			t.Fatalf("held %d, redis %d, seq %d, top %d: refused %v (%q)", held, inRedis, seq, top, refused, reason)
		}
	}
	f(100, 100, 200, 200, false) // in step
	f(100, 10, 300, 200, false)  // many deletes, counter ahead: a real change
	f(100, 90, 150, 200, false)  // behind, but keeps most
	f(100, 40, 150, 200, true)   // behind, drops most
	f(100, 0, 150, 200, true)    // behind, empty
	f(0, 0, 0, 0, false)         // a new, empty dataset
	if reason, _ := judge(&DatasetInfo{}, "x", 5, 5); reason == "" {
		t.Fatal("an empty redis under a remembered dataset is not lost")
	}
	if reason, _ := judge(&DatasetInfo{ID: "y"}, "x", 5, 5); reason == "" {
		t.Fatal("another dataset is not lost")
	}
	if reason, _ := judge(&DatasetInfo{ID: "y", Supersedes: []string{"x"}}, "x", 5, 5); reason != "" {
		t.Fatalf("an adopted dataset is lost: %s", reason)
	}
	if reason, _ := judge(&DatasetInfo{Lost: map[string]uint64{"x": 5}}, "", 0, 0); reason == "" {
		t.Fatal("a new edge took a dataset reported lost for a new empty one")
	}
	if reason, _ := judge(&DatasetInfo{}, "", 3, 3); reason == "" {
		t.Fatal("an edge holding links took an empty redis for a new dataset")
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestWriterReadiness: qredge api's /readyz is ready with Redis up,
// degraded but ready once the dataset it wrote to is gone (writes answer
// 503), and not ready while Redis is down.
func TestWriterReadiness(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	s := mustOpen(t, srv.Addr(), "qredge")
	want := func(ready bool, detail string) {
		t.Helper()
		ok, got := s.WriterReadiness()
		if ok != ready || !strings.Contains(got, detail) {
			t.Fatalf("WriterReadiness = %v, %q; want %v and %q", ok, got, ready, detail)
		}
	}
	want(true, "ready: redis ok")
	mustCreate(t, s, "a")
	srv.Do("FLUSHALL")
	want(true, "ready: redis ok; degraded: writes answer 503: ")
	srv.Kill()
	want(false, "redis unreachable: writes answer 503")
}
