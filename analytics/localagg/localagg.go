package localagg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/store"
)

// Config configures an Aggregator. Get defaults from DefaultConfig.
type Config struct {
	Retention aggregate.Retention
	// Poll is how often the spool is looked at when it has not signalled
	// an append (the signal normally wakes the aggregator at once).
	Poll time.Duration
	// PruneInterval is how often buckets past their retention are deleted.
	PruneInterval time.Duration
	// BatchEvents bounds the events decoded in one step; whole spool
	// records are read, so a step can exceed it by one record.
	BatchEvents int
	// Events are counted in memory, where reads see them at once, and
	// written to the file (with the spool position, in one transaction)
	// every FlushInterval, or when FlushEvents are pending, or when the
	// spool moves to another segment. Under load a transaction holds
	// FlushEvents; when idle, one a second at most. Larger transactions
	// measured slower, not faster: with scans spread over 100,000 links,
	// 20,000 events a transaction cost serve 39-54 us per scan against
	// 27-36 us at 5,000 (bbolt grows a node in memory until the commit,
	// and inserting into a large one moves its tail each time).
	FlushInterval time.Duration
	FlushEvents   int
	// Now is the clock that retention is measured against; nil means
	// time.Now.
	Now func() time.Time
	// Damaged, when set, is damage already found in the aggregator's
	// buckets (the check at start): Open then touches none of them and
	// the aggregator starts failed (see Fail).
	Damaged error
	// Tap, when set, is given each chunk of events before it is counted,
	// with the positions before and after it (Position): webhooks queue
	// the scans there. An error leaves the chunk to be read again.
	Tap func(prev, last int64, events []analytics.Decoded) error
}

// Position is a spool position as one increasing number: the segment's
// sequence number in the high 32 bits, the offset in it in the low 32
// (segments are far smaller than 4 GiB).
func (p position) Position() int64 { return int64(p.Seq<<32 | uint64(p.Off)) }

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Retention: aggregate.DefaultRetention(), Poll: time.Second,
		PruneInterval: time.Minute, BatchEvents: 5000, FlushInterval: time.Second, FlushEvents: 5000}
}

// readBytes is about how much of a segment one read takes into memory.
const readBytes = 4 << 20

// errorPause is how long the loop waits after an error before retrying.
const errorPause = time.Second

// Aggregator counts the events of a spool into the bbolt file and reads
// stats back (it implements store.StatsReader). Its loop runs between
// Start and Close; the reading methods are safe for concurrent use at any
// time.
type Aggregator struct {
	db    *bolt.DB
	sp    *spool.Spool
	cfg   Config
	m     *aggregate.Metrics
	brake *aggregate.Brake
	log   *slog.Logger
	lag   prometheus.Gauge

	// The loop's state, owned by its goroutine. pos is how far the spool
	// was read; what was read after the committed position is in pend.
	pos       position
	committed position   // the position the file holds
	batches   [][][]byte // records read from pos on, not applied yet
	ends      []int64    // ends[i] is the offset after batches[i]
	done      string     // sealed segment at pos read to its end
	dead      int64      // damaged bytes at the end of segment done
	times     []int64
	decoded   []analytics.Decoded // a chunk's events, reused
	poison    limiter
	errs      limiter

	failed atomic.Pointer[failure]

	// pend holds the events counted in memory and not written yet (the
	// loop adds to it; readers add it to what the file holds), pendSince
	// when its oldest event was read. pmu guards pend against readers.
	pmu        sync.RWMutex
	pend       *aggregate.Delta
	pendSince  time.Time
	pendPoison int

	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopLimiter stops saving the scan limits' counts (limits.go), after
	// saving them once more.
	stopLimiter func()
}

var _ store.StatsReader = (*Aggregator)(nil)

// Open creates the aggregator's buckets in db and reads where it stopped
// in sp. m and brake may be nil (then fresh, unregistered ones are used).
// Nothing is read from the spool before Start.
//
// Open must be called before anything is appended to sp in this process,
// and nothing else may remove sp's segments (no sink replays it).
func Open(db *bolt.DB, sp *spool.Spool, cfg Config, m *aggregate.Metrics, brake *aggregate.Brake, log *slog.Logger) (*Aggregator, error) {
	d := DefaultConfig()
	for i, r := range cfg.Retention {
		if r <= 0 {
			cfg.Retention[i] = d.Retention[i]
		}
	}
	defaults.Positive(&cfg.Poll, d.Poll)
	defaults.Positive(&cfg.PruneInterval, d.PruneInterval)
	defaults.Positive(&cfg.BatchEvents, d.BatchEvents)
	defaults.Positive(&cfg.FlushInterval, d.FlushInterval)
	defaults.Positive(&cfg.FlushEvents, d.FlushEvents)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if m == nil {
		m = aggregate.NewMetrics()
	}
	if brake == nil {
		brake = aggregate.NewBrake(m.Paused)
	}
	if log == nil {
		log = slog.Default()
	}
	a := &Aggregator{db: db, sp: sp, cfg: cfg, m: m, brake: brake, log: log, lag: m.LagBytes.WithLabelValues(), pend: aggregate.NewDelta()}
	if cfg.Damaged != nil {
		a.Fail(cfg.Damaged)
		return a, nil
	}
	err := a.guard("opening the stats", func() error {
		return a.open(db)
	})
	switch {
	case isDamage(err):
		return a, nil // failed: the rest of the file serves on
	case err != nil:
		return nil, fmt.Errorf("cannot open the stats in the database: %w", err)
	}
	// The segment at the position is never removed, so the spool numbers
	// new segments after it, unless its directory was emptied: then make
	// sure new segments do not reuse numbers already read.
	sp.ReserveSeq(a.pos.Seq + 1)
	a.updateLag()
	return a, nil
}

func (a *Aggregator) open(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketStats, bucketUniq, bucketPos} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketPos).Get(keyPos); v != nil {
			var err error
			a.pos, err = decodePosition(v)
			a.committed = a.pos
			return err
		}
		return nil
	})
}

// Start starts counting in a goroutine.
func (a *Aggregator) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.run(ctx)
	}()
}

// Close stops counting after the transaction in hand and waits for it. It
// closes neither the database nor the spool: close the aggregator first.
// Events not counted yet stay in the spool and are counted after the next
// Start.
func (a *Aggregator) Close() error {
	if a.stopLimiter != nil {
		a.stopLimiter()
		a.stopLimiter = nil
	}
	if a.cancel != nil {
		a.cancel()
		a.wg.Wait()
		a.cancel = nil
	}
	return nil
}

func (a *Aggregator) run(ctx context.Context) {
	// A fault on a damaged page of the memory map becomes a panic that
	// guard recovers, in this goroutine.
	debug.SetPanicOnFault(true)
	appended := a.sp.Appended()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastPrune time.Time
	defer func() {
		// A graceful stop writes what is counted in memory; after a
		// crash it is read again from the spool.
		if a.Failed() == nil {
			if err := a.guard("counting events", a.flush); err != nil && !isDamage(err) {
				a.logError("cannot write the stats counted in memory at stop", err)
			}
		}
	}()
	for ctx.Err() == nil {
		if a.Failed() != nil {
			// Nothing more is counted: the events stay in the spool
			// for after the repair.
			<-ctx.Done()
			return
		}
		if !a.brake.Begin() {
			// Keep the lag gauge moving while paused.
			a.updateLag()
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			a.brake.Wait(wctx)
			cancel()
			continue
		}
		wait, again := a.work(&lastPrune)
		a.brake.End()
		if again {
			continue
		}
		timer.Reset(wait) // since Go 1.23 this also drops a stale tick
		select {
		case <-ctx.Done():
		case <-appended:
		case <-timer.C:
		}
	}
}

// work is one turn of run, between Brake.Begin and End: it prunes expired
// stats when due, applies what the spool holds, and writes what is
// pending when due. It reports whether to go on at once, else how long to
// wait for the spool.
func (a *Aggregator) work(lastPrune *time.Time) (wait time.Duration, again bool) {
	if time.Since(*lastPrune) >= a.cfg.PruneInterval {
		*lastPrune = time.Now()
		var n int
		err := a.guard("pruning expired stats", func() (err error) {
			n, err = prune(a.db, a.cfg.Retention, a.cfg.Now())
			return err
		})
		if isDamage(err) {
			return 0, true
		}
		if err != nil {
			a.logError("cannot prune expired stats", err)
		} else if n > 0 {
			a.log.Debug("pruned expired stats", "keys", n)
		}
	}
	var progressed bool
	err := a.guard("counting events", func() (err error) {
		progressed, err = a.step()
		return err
	})
	if isDamage(err) {
		return 0, true
	}
	a.updateLag()
	wait = a.cfg.Poll
	switch {
	case err != nil:
		a.logError("embedded aggregator", err)
		wait = errorPause
	case progressed:
		return 0, true
	}
	if a.pendEvents() > 0 {
		// Nothing more to read now: write what is pending when due.
		due := a.cfg.FlushInterval - time.Since(a.pendSince)
		if due <= 0 {
			if err := a.guard("counting events", a.flush); err != nil && !isDamage(err) {
				a.logError("embedded aggregator", err)
				wait = errorPause
			} else {
				return 0, true
			}
		} else {
			wait = min(wait, due)
		}
	}
	return wait, false
}

// step does one unit of work: it applies one chunk of events, or moves to
// the next segment. It reports whether it did something (then it should
// be called again at once).
func (a *Aggregator) step() (bool, error) {
	if len(a.batches) > 0 {
		return true, a.applyChunk()
	}
	segs, err := a.sp.Segments()
	if err != nil {
		return false, err
	}
	var cur, next *spool.SegmentFile
	var older []spool.SegmentFile
	for i := range segs {
		switch s := &segs[i]; {
		case s.Seq < a.pos.Seq:
			older = append(older, *s)
		case s.Seq == a.pos.Seq:
			cur = s
		case next == nil:
			next = s
		}
	}
	if cur == nil {
		switch {
		case next != nil:
			// Nothing applied yet, or the segment of the position was
			// removed by someone else: go on with the next one.
			if a.pos != (position{}) {
				a.log.Warn("the spool segment the stats had reached is gone: going on with the next one",
					"segment_seq", a.pos.Seq, "offset", a.pos.Off, "next", next.Name)
			}
			return true, a.moveTo(next.Seq, older)
		case len(older) > 0:
			// Every segment is older than the position and its own is
			// gone: the spool was emptied and numbered from 0 again
			// before Open could stop it.
			a.log.Warn("the spool was emptied and started again: counting from its oldest segment",
				"segment_seq", a.pos.Seq, "offset", a.pos.Off, "oldest", older[0].Name)
			return true, a.moveTo(older[0].Seq, nil)
		}
		return false, nil
	}
	// Segments before the committed position were applied; one is left
	// when the process died between the commit and the remove.
	var applied []spool.SegmentFile
	for _, o := range older {
		if o.Seq < a.committed.Seq {
			applied = append(applied, o)
		}
	}
	a.remove(applied)
	if a.done != cur.Name {
		r, err := a.sp.ReadRecords(cur.Name, a.pos.Off, readBytes)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil // sealed since the listing: list again
		}
		if err != nil {
			return false, err
		}
		if len(r.Batches) > 0 {
			a.batches, a.ends = r.Batches, r.Ends
			return true, a.applyChunk()
		}
		// Only the newest segment is written to: an unsealed one with a
		// newer segment after it was abandoned (its seal failed), and is
		// read as sealed.
		if !cur.Sealed && next == nil {
			return false, nil // the rest is not written yet
		}
		a.done, a.dead = cur.Name, r.Bad
		switch {
		case r.Bad > 0:
			a.log.Error("damaged spool segment: its events after the damage are lost to the stats",
				"segment", cur.Name, "offset", r.End, "discarded_bytes", r.Bad, "err", r.BadError)
		case r.End > r.Size:
			a.log.Error("spool segment shorter than the stats position (cut short by a power loss?): going on",
				"segment", cur.Name, "offset", r.End, "size", r.Size)
		}
	}
	if next == nil {
		return false, nil // the segment at the position is never removed
	}
	return true, a.moveTo(next.Seq, []spool.SegmentFile{*cur})
}

// moveTo records the start of segment seq as the position and removes the
// segments before it.
func (a *Aggregator) moveTo(seq uint64, before []spool.SegmentFile) error {
	// What is pending was read before the new position: it commits with
	// it, so the file never holds a position past events it lacks.
	a.pos = position{Seq: seq}
	if err := a.flush(); err != nil {
		return fmt.Errorf("cannot record the spool position: %w", err)
	}
	a.done, a.dead, a.batches, a.ends = "", 0, nil, nil
	a.remove(before)
	return nil
}

func (a *Aggregator) remove(segs []spool.SegmentFile) {
	for _, s := range segs {
		if err := a.sp.Remove(s.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.logError("cannot remove an applied spool segment", err)
		}
	}
}

// applyChunk counts whole records from a.batches, up to BatchEvents
// events, into the pending delta, and moves the read position after them;
// it writes the delta when FlushEvents are pending.
func (a *Aggregator) applyChunk() error {
	k, n, poison := 0, 0, 0
	events := a.decoded[:0]
	for k < len(a.batches) && n < a.cfg.BatchEvents {
		for _, rec := range a.batches[k] {
			e, err := analytics.Decode(rec)
			if err != nil {
				poison++
				if ok, skipped := a.poison.allow(); ok {
					a.log.Error("undecodable event in the spool: skipped (counted in qredge_analytics_events_total{result=\"poison\"})",
						"segment_seq", a.pos.Seq, "err", err, "bytes", len(rec), "skipped_since_last_log", skipped)
				}
				continue
			}
			events = append(events, e)
		}
		n += len(a.batches[k])
		k++
	}
	a.decoded = events[:0]
	next := position{Seq: a.pos.Seq, Off: a.ends[k-1]}
	if a.cfg.Tap != nil {
		if err := a.cfg.Tap(a.pos.Position(), next.Position(), events); err != nil {
			return fmt.Errorf("cannot queue scans for webhooks: %w", err)
		}
	}
	a.pmu.Lock()
	if a.pend.Events == 0 && a.pendPoison == 0 {
		a.pendSince = time.Now()
	}
	for i := range events {
		a.pend.Add(&events[i])
		a.times = append(a.times, events[i].Time)
	}
	a.pendPoison += poison
	a.pmu.Unlock()
	// Visible to reads from now on.
	a.m.ObserveFreshness(a.times)
	a.times = a.times[:0]
	a.pos = next
	clear(a.batches[:k]) // let the records be collected
	a.batches, a.ends = a.batches[k:], a.ends[k:]
	if a.pendEvents() >= a.cfg.FlushEvents {
		return a.flush()
	}
	return nil
}

// pendEvents returns the events counted in memory and not written yet.
func (a *Aggregator) pendEvents() int {
	a.pmu.RLock()
	defer a.pmu.RUnlock()
	return a.pend.Events + a.pendPoison
}

// flush writes the pending delta and the read position in one
// transaction. Readers wait for it, so they never see the delta both in
// the file and in memory.
func (a *Aggregator) flush() error {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	d := a.pend
	start := time.Now()
	if err := apply(a.db, d, a.pos); err != nil {
		return fmt.Errorf("cannot apply %d events: %w", d.Events, err)
	}
	if d.Events > 0 || a.pendPoison > 0 {
		a.m.Apply.Observe(time.Since(start).Seconds())
		a.m.Applied.Add(float64(d.Events))
		a.m.Poison.Add(float64(a.pendPoison))
		a.m.Batches.Inc()
	}
	a.pend, a.pendPoison = aggregate.NewDelta(), 0
	a.committed = a.pos
	return nil
}

// updateLag sets the lag gauge to the spool bytes not applied yet.
func (a *Aggregator) updateLag() {
	lag := a.sp.Size() - a.pos.Off - a.dead
	if lag < 0 {
		lag = 0
	}
	a.lag.Set(float64(lag))
}

func (a *Aggregator) logError(msg string, err error) {
	if ok, skipped := a.errs.allow(); ok {
		a.log.Error(msg, "err", err, "errors_since_last_log", skipped)
	}
}

// limiter lets one log line through per logEvery.
type limiter struct {
	last    time.Time
	skipped int
}

const logEvery = 10 * time.Second

func (l *limiter) allow() (bool, int) {
	if time.Since(l.last) < logEvery {
		l.skipped++
		return false, 0
	}
	n := l.skipped
	l.last, l.skipped = time.Now(), 0
	return true, n
}
