package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
)

func testEvent(i int) Event {
	e := Event{Time: testclock.Date(2026, 11, 27, 12, 0, 0).Add(time.Duration(i)).UnixNano(), Key: fmt.Sprintf("c%d\x00go.example", i),
		Version: 7, Status: 302, Target: TargetRule, Rule: 2, Variant: "b", Country: [2]byte{'D', 'E'}, Device: DeviceIOS, Bot: i%2 == 0}
	copy(e.Lang[:], "de")
	e.SetReferrer([]byte("https://User@WWW.Example.com:443/path?q=1"))
	copy(e.IP[:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, byte(i)})
	return e
}

func TestWireRoundTrip(t *testing.T) {
	enc := NewEncoder([]byte("secret"), "edge-1")
	e := testEvent(1)
	e.ID = [16]byte{1, 2, 3}
	e.Source = SourceQR
	b := enc.Append(nil, &e)
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion != 1 || d.ID != e.ID || d.Time != e.Time || d.Code != "c1" || d.Domain != "go.example" || d.LinkVersion != 7 ||
		d.Status != 302 || d.Target != TargetRule || d.Rule != 2 || d.Variant != "b" || d.Country != "DE" || d.Device != DeviceIOS ||
		d.Bot || d.ReferrerHost != "www.example.com" || d.Lang != "de" || d.IPHash == 0 || d.Edge != "edge-1" || d.Source != SourceQR {
		t.Fatalf("decoded %+v", d)
	}
	if d.IPSaltDay != uint32(e.Time/nanosPerDay) {
		t.Fatalf("salt day %d", d.IPSaltDay)
	}
	// The raw IP appears nowhere in the encoding.
	if containsBytes(b, e.IP[12:]) {
		t.Fatal("raw IP bytes in the encoded event")
	}
	// Same IP, same day, another edge with the same secret: same hash.
	e2 := e
	d2, _ := Decode(NewEncoder([]byte("secret"), "edge-2").Append(nil, &e2))
	if d2.IPHash != d.IPHash {
		t.Fatal("hash differs across edges with one secret")
	}
	// Next day: a new salt.
	e3 := e
	e3.Time += nanosPerDay
	if d3, _ := Decode(enc.Append(nil, &e3)); d3.IPHash == d.IPHash {
		t.Fatal("salt did not rotate")
	}
	for _, bad := range [][]byte{nil, {0xff}, {0x12, 0x05, 1}, enc.Append(nil, &e)[:5]} {
		if _, err := Decode(bad); err == nil {
			t.Fatalf("Decode(%x) accepted", bad)
		}
	}
}

func containsBytes(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return true
		}
	}
	return false
}

func FuzzDecode(f *testing.F) {
	enc := NewEncoder(nil, "e")
	e := testEvent(3)
	f.Add(enc.Append(nil, &e))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			return
		}
		if d.SchemaVersion == 0 || d.SchemaVersion > SchemaVersion || d.Code == "" {
			t.Fatalf("accepted %+v", d)
		}
	})
}

func TestQueueNonBlocking(t *testing.T) {
	q := NewQueue(2)
	e := testEvent(0)
	first, second, third := q.Enqueue(&e), q.Enqueue(&e), q.Enqueue(&e)
	if !first || !second || third {
		t.Fatal("a queue of 2 took the wrong number of events")
	}
	if q.full.Load() != 1 || q.enqueued.Load() != 2 {
		t.Fatalf("counters %d %d", q.full.Load(), q.enqueued.Load())
	}
	a, _ := q.Dequeue()
	b, _ := q.Dequeue()
	if _, more := q.Dequeue(); more {
		t.Fatal("a third event came out of a queue of 2")
	}
	if a.ID == b.ID {
		t.Fatal("two events with one ID")
	}
}

// flakySink fails while down is set and records what it acknowledged,
// and how many records came with a key other than their event id.
type flakySink struct {
	mu      sync.Mutex
	down    atomic.Bool
	got     map[[16]byte]int
	n       atomic.Int64
	badKeys atomic.Int64
}

func (s *flakySink) Publish(ctx context.Context, records []Record) error {
	if s.down.Load() {
		return errors.New("sink down")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		d, err := Decode(r.Value)
		if err != nil {
			return err
		}
		if string(r.Key) != string(d.ID[:]) {
			s.badKeys.Add(1)
		}
		s.got[d.ID]++
		s.n.Add(1)
	}
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestPipelineOutageAndReplay(t *testing.T) {
	sink := &flakySink{got: map[[16]byte]int{}}
	cfg := DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	cfg.Linger = 5 * time.Millisecond
	cfg.RetryInterval = 20 * time.Millisecond
	cfg.BatchSize = 100
	p, err := Start(cfg, sink, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		if i == 1000 {
			sink.down.Store(true)
		}
		if i == 4000 {
			sink.down.Store(false)
		}
		e := testEvent(i)
		for !p.Queue().Enqueue(&e) {
			time.Sleep(time.Millisecond)
		}
		if i%100 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	testwait.For(t, 10*time.Second, "every event published", func() bool { return sink.n.Load() >= n })
	p.Close()
	st := p.Stats()
	t.Logf("published %d, spooled %d, replayed %d, errors %d", st.Published.Load(), st.Spooled.Load(), st.Replayed.Load(), st.PublishErrors.Load())
	if len(sink.got) != n {
		t.Fatalf("%d distinct events delivered, want %d", len(sink.got), n)
	}
	for id, c := range sink.got {
		if c != 1 {
			t.Fatalf("event %x delivered %d times", id, c)
		}
	}
	if st.Spooled.Load() == 0 || st.Replayed.Load() != st.Spooled.Load() || p.Spool().Size() != 0 {
		t.Fatalf("spooled %d replayed %d, spool left %d bytes", st.Spooled.Load(), st.Replayed.Load(), p.Spool().Size())
	}
	// Published at once or replayed from the spool, every record came
	// keyed by its event id.
	if n := sink.badKeys.Load(); n != 0 {
		t.Fatalf("%d records without their event id as key", n)
	}
}

func TestPipelineNoSinkAndClose(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SpoolDir = dir
	p, err := Start(cfg, nil, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2500; i++ {
		e := testEvent(i)
		p.Queue().Enqueue(&e)
	}
	p.Close() // everything queued goes to the spool
	s, _ := spool.Open(dir, 1<<30, 1<<30)
	total := 0
	for {
		name, _ := s.Oldest()
		if name == "" {
			break
		}
		seg, _ := s.ReadSegment(name)
		for _, b := range seg.Batches {
			total += len(b)
		}
		s.Remove(name)
	}
	if total != 2500 {
		t.Fatalf("spool holds %d events, want 2500", total)
	}
}

func TestPipelineSpoolCapCounted(t *testing.T) {
	sink := &flakySink{got: map[[16]byte]int{}}
	sink.down.Store(true)
	cfg := DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	cfg.SpoolMaxBytes = 20000
	cfg.Linger = 2 * time.Millisecond
	cfg.RetryInterval = time.Hour
	p, _ := Start(cfg, sink, quietLog())
	for i := 0; i < 3000; i++ {
		e := testEvent(i)
		p.Queue().Enqueue(&e)
	}
	p.Close()
	st := p.Stats()
	if st.SpoolDropped.Load() == 0 || st.Spooled.Load()+st.SpoolDropped.Load() != 3000 || p.Spool().Size() > 20000 {
		t.Fatalf("spooled %d dropped %d size %d", st.Spooled.Load(), st.SpoolDropped.Load(), p.Spool().Size())
	}
}

// TestPipelineReplaysDamagedSegment: a segment torn by a crash is replayed
// up to the damage, the rest is counted, and the segment is removed.
func TestPipelineReplaysDamagedSegment(t *testing.T) {
	dir := t.TempDir()
	s := spoolBatches(t, dir, 3, 10)
	name, _ := s.Oldest()
	path := filepath.Join(dir, name)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-10], 0o600) // the last batch is torn
	sink := &flakySink{got: map[[16]byte]int{}}
	p := startRetrying(t, dir, sink)
	testwait.For(t, 5*time.Second, "the spool replayed", func() bool { return p.Spool().Size() == 0 })
	p.Close()
	if len(sink.got) != 20 || p.Stats().Corrupt.Load() == 0 || p.Spool().Size() != 0 {
		t.Fatalf("delivered %d (want the 20 intact), corrupt bytes %d, spool %d", len(sink.got), p.Stats().Corrupt.Load(), p.Spool().Size())
	}
}

// startRetrying starts a pipeline over the spool in dir that retries its
// sink every 10 ms.
func startRetrying(t *testing.T, dir string, sink Sink) *Pipeline {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SpoolDir = dir
	cfg.RetryInterval = 10 * time.Millisecond
	p, err := Start(cfg, sink, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// spoolBatches writes batches of perBatch events, each with its own id, to
// a new spool in dir, and closes it.
func spoolBatches(t *testing.T, dir string, batches, perBatch int) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	enc := NewEncoder(nil, "e")
	for b := range batches {
		var recs [][]byte
		for i := range perBatch {
			e := testEvent(b*perBatch + i)
			e.ID = [16]byte{byte(b), byte(i), 1}
			recs = append(recs, enc.Append(nil, &e))
		}
		if err := s.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	return s
}

// TestQueueConcurrent: many producers, one consumer; every event comes out
// exactly once.
func TestQueueConcurrent(t *testing.T) {
	q := NewQueue(1024)
	const producers, per = 4, 20000
	var wg sync.WaitGroup
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := testEvent(0)
			for i := 0; i < per; i++ {
				for !q.Enqueue(&e) {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}()
	}
	seen := map[[16]byte]bool{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for len(seen) < producers*per {
		e, ok := q.Dequeue()
		if !ok {
			select {
			case <-done:
				if q.Len() == 0 && len(seen) < producers*per {
					if e, ok := q.Dequeue(); ok {
						seen[e.ID] = true
						continue
					}
					t.Fatalf("lost events: %d of %d", len(seen), producers*per)
				}
			default:
			}
			continue
		}
		if seen[e.ID] {
			t.Fatalf("event %x twice", e.ID)
		}
		seen[e.ID] = true
	}
}

func TestQueueClosed(t *testing.T) {
	q := NewQueue(8)
	e := testEvent(0)
	q.Close()
	if q.Enqueue(&e) || q.full.Load() != 1 {
		t.Fatal("a closed queue took an event, or did not count it")
	}
}

// gateSink blocks every Publish until release is closed, and counts the
// calls that started.
type gateSink struct {
	started chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func (s *gateSink) Publish(ctx context.Context, records []Record) error {
	s.calls.Add(1)
	s.started <- struct{}{}
	<-s.release
	return nil
}

// TestPipelineCloseStopsReplay: Close during a replay waits for the batch
// being published, not for the rest of the segment (a slow broker would
// hold a shutdown for every batch of it); the rest stays in the spool.
func TestPipelineCloseStopsReplay(t *testing.T) {
	dir := t.TempDir()
	spoolBatches(t, dir, 10, 1)
	sink := &gateSink{started: make(chan struct{}, 16), release: make(chan struct{})}
	p := startRetrying(t, dir, sink)
	<-sink.started // the replay of the first batch is under way
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	// Once Close has begun, let the batch in flight finish: without the
	// stop check between batches, the replay would go on with the other 9.
	for !stopped(p) {
		time.Sleep(time.Millisecond)
	}
	close(sink.release) // from now on every Publish returns at once
	<-closed
	if n := sink.calls.Load(); n != 1 {
		t.Fatalf("Close let the replay publish %d batches, want only the one in flight", n)
	}
	if st := p.Stats(); st.Replayed.Load() != 1 {
		t.Fatalf("replayed %d events, want 1", st.Replayed.Load())
	}
	// The other 9 batches are still on disk for the next start.
	re, err := spool.Open(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	name, _ := re.Oldest()
	seg, err := re.ReadSegment(name)
	if err != nil || len(seg.Batches) != 10 {
		t.Fatalf("spool after Close: %d batches (%v), want the segment with all 10 (the first one is sent again on the next start)", len(seg.Batches), err)
	}
}

// stopped reports whether Close has begun.
func stopped(p *Pipeline) bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// TestQueueWaitNoLostWakeup: a consumer that sleeps in Wait whenever the
// queue is empty (no timeout) receives every event of producers that
// enqueue in bursts with pauses: no wake-up is lost between its last look
// at the queue and its sleep.
func TestQueueWaitNoLostWakeup(t *testing.T) {
	q := NewQueue(1 << 10)
	const producers, each = 4, 5000
	stop := make(chan struct{})
	got := make(chan int)
	go func() {
		n := 0
		for n < producers*each {
			if _, ok := q.Dequeue(); ok {
				n++
				continue
			}
			q.Wait(stop, nil, 0)
		}
		got <- n
	}()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := testEvent(p)
			for i := range each {
				for !q.Enqueue(&e) {
					runtime.Gosched()
				}
				if i%97 == 0 {
					time.Sleep(50 * time.Microsecond) // let the consumer fall asleep
				}
			}
		}()
	}
	wg.Wait()
	select {
	case n := <-got:
		if n != producers*each {
			t.Fatalf("consumer got %d events, want %d", n, producers*each)
		}
	case <-time.After(20 * time.Second):
		close(stop)
		t.Fatal("the consumer sleeps with events queued: a wake-up was lost")
	}
}

// TestQueueWaitForMany: a consumer that waits for 100 queued events is
// woken by the producer that queues the 100th, not by the ones before.
func TestQueueWaitForMany(t *testing.T) {
	q := NewQueue(1 << 10)
	woke := make(chan int, 1)
	go func() {
		q.Wait(nil, nil, 100)
		woke <- q.Len()
	}()
	e := testEvent(1)
	for i := range 99 {
		q.Enqueue(&e)
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case n := <-woke:
		t.Fatalf("woken with %d events queued, want 100", n)
	case <-time.After(50 * time.Millisecond):
	}
	q.Enqueue(&e)
	select {
	case n := <-woke:
		if n < 100 {
			t.Fatalf("woken with %d events queued", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by the 100th event")
	}
}
