package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/internal/ticker"
	"github.com/qredge/qredge/store"
)

// Replica is an in-memory copy of the links that a Syncer keeps current
// (the edge's redirect table).
type Replica interface {
	// Apply applies one change; older versions than held are ignored.
	Apply(store.Change)
	// Load replaces the whole content with the links fill adds.
	Load(fill func(add func(*store.Link)) error) error
	Len() int
	VersionOf(domain, code string) (uint64, bool)
	Each(fn func(domain, code string, version uint64))
	// MaxVersion is the highest version loaded or applied.
	MaxVersion() uint64
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// ResyncInterval is how often the replica is compared with Redis in
	// full, as a safety net; 0 disables it.
	ResyncInterval time.Duration
	// Block is how long one stream read waits for changes.
	Block time.Duration
	Log   *slog.Logger
	// SnapshotFile is the replica's local snapshot (syncsnap.go): read at
	// start, written every SnapshotInterval when the replica changed; ""
	// for none. The replica must implement Snapshotter. OpenSnapshotDir
	// sets it from SnapshotDir.
	SnapshotFile string
	SnapshotDir  string
	// SharedSnapshots starts from the shared snapshot in Redis when it
	// fits, and takes part in publishing it.
	SharedSnapshots bool
	// SnapshotInterval is how often the snapshots are refreshed.
	SnapshotInterval time.Duration
	// Owner names this process in the lock of the publishing edge.
	Owner string
}

// SyncStats are the Syncer's counters, for metrics.
type SyncStats struct {
	Applied     uint64 // changes applied from the stream
	Reloads     uint64 // full reloads (start, gaps)
	Resyncs     uint64 // periodic resyncs done
	ResyncDiffs uint64 // links the resyncs found different and fixed
	Errors      uint64 // failed Redis reads
	Refused     uint64 // reloads refused because the dataset looks lost
	RedisUp     bool
	DatasetLost bool // the dataset looks lost: the replica is kept as it is
	LastLoadDur time.Duration
	LastLoadN   int
	// Snapshot loads by source ("shared", "local"), refused snapshots
	// (damaged, stale, another dataset) and snapshots written.
	SnapshotLoads     map[string]uint64
	SnapshotsRefused  uint64
	SnapshotsWritten  uint64
	SnapshotsShared   uint64
	LastSnapshotBytes int64
}

// Syncer loads every link into a Replica, then follows the change stream:
// it resumes from the last entry it applied after any error, reloads in
// full when the stream lost entries it had not read, and resyncs
// periodically.
//
// It remembers the dataset it loaded (dataset.go). When Redis holds no
// dataset, another one, or one whose version counter is behind the
// replica (Redis lost writes), the dataset looks lost: the Syncer reports
// it into Redis, keeps the replica as it is instead of a reload that would
// empty it (or, for a counter that is only behind, drop more than half of
// it), and tries again until the dataset is restored or an operator
// adopts a new one.
type Syncer struct {
	s   *Store
	r   Replica
	cfg SyncConfig
	log *slog.Logger

	mu       sync.Mutex // serialises reloads and resyncs
	lastID   string
	pos      atomic.Value // string: lastID, for the snapshot writer
	prog     progress
	snaps    snapStats
	ready    atomic.Bool
	up       atomic.Bool
	downAt   atomic.Int64
	applied  atomic.Uint64
	reloads  atomic.Uint64
	resyncs  atomic.Uint64
	diffs    atomic.Uint64
	errors   atomic.Uint64
	loadDur  atomic.Int64
	loadN    atomic.Int64
	refused  atomic.Uint64
	known    atomic.Value                // string: the dataset id loaded
	lost     atomic.Pointer[lostDataset] // nil while the dataset is not lost
	stopped  chan struct{}
	cancel   context.CancelFunc
	resyncWG sync.WaitGroup
}

// NewSyncer returns a Syncer; Start starts it.
func NewSyncer(s *Store, r Replica, cfg SyncConfig) *Syncer {
	defaults.Positive(&cfg.Block, 500*time.Millisecond)
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	defaults.Positive(&cfg.SnapshotInterval, time.Minute)
	y := &Syncer{s: s, r: r, cfg: cfg, log: cfg.Log, stopped: make(chan struct{})}
	y.pos.Store("")
	return y
}

// Start loads the links (retrying with backoff while Redis is unreachable)
// in the background and then follows the stream until Stop. Ready turns
// true after the first complete load.
func (y *Syncer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	y.cancel = cancel
	go y.run(ctx)
}

// Stop stops the Syncer and waits for it, resyncs included.
func (y *Syncer) Stop() {
	if y.cancel != nil {
		y.cancel()
		<-y.stopped
		y.resyncWG.Wait()
	}
}

// Ready reports whether the replica has been loaded in full once.
func (y *Syncer) Ready() bool { return y.ready.Load() }

// lostDataset is why the dataset looks lost, and since when.
type lostDataset struct {
	reason string
	since  time.Time
}

// DatasetLost reports whether the dataset looks lost (the replica is then
// kept as it is), why and since when.
func (y *Syncer) DatasetLost() (lost bool, reason string, since time.Time) {
	if l := y.lost.Load(); l != nil {
		return true, l.reason, l.since
	}
	return false, "", time.Time{}
}

// Dataset returns the id of the dataset the replica holds ("" before the
// first link of a new dataset).
func (y *Syncer) Dataset() string {
	v, _ := y.known.Load().(string)
	return v
}

// errRefused is a reload refused because the dataset looks lost.
var errRefused = errors.New("reload refused")

// judge says why the dataset d looks lost to a replica that holds held
// links up to version top of dataset known, or "" when it does not.
// regressed is true when only the version counter is behind (the reload
// is then refused only if it would drop most of the replica).
func judge(d *DatasetInfo, known string, held int, top uint64) (reason string, regressed bool) {
	switch {
	case known == "" && d.ID == "" && len(d.Lost) > 0:
		return "redis holds no link dataset, and an edge reported it lost", false
	case known == "" && d.ID == "" && held > 0:
		return fmt.Sprintf("redis holds no link dataset, and this edge holds %d links", held), false
	case known == "" || d.ID == known:
		if d.ID != "" && d.Seq < top {
			return fmt.Sprintf("redis's version counter (%d) is behind the versions this edge holds (%d): redis lost writes", d.Seq, top), true
		}
		return "", false
	case d.SupersedesID(known):
		return "", false // adopted by an operator
	case d.ID == "":
		return fmt.Sprintf("redis holds no link dataset: the dataset %s that this edge holds is gone (redis came back empty)", known), false
	}
	return fmt.Sprintf("redis holds the link dataset %s, not %s that this edge holds", d.ID, known), false
}

// dropsMost reports whether replacing held links with n loses most of
// them: more than half, or all.
func dropsMost(held, n int) bool { return held > 0 && (n == 0 || n < held-held/2) }

func (y *Syncer) setLost(reason string) {
	if l := y.lost.Load(); l != nil && l.reason == reason {
		return
	}
	since := time.Now()
	if l := y.lost.Load(); l != nil {
		since = l.since
	}
	y.lost.Store(&lostDataset{reason: reason, since: since})
	y.log.Error("the link dataset in redis looks lost; keeping the links held in memory and refusing to reload them",
		"reason", reason, "links_held", y.r.Len(), "runbook", "docs/runbook.md#qredgeredisdatasetlost")
}

// Health reports whether Redis answers, and since when it does not.
func (y *Syncer) Health() (up bool, downSince time.Time) {
	if y.up.Load() {
		return true, time.Time{}
	}
	return false, time.Unix(0, y.downAt.Load())
}

// Stats returns the counters.
func (y *Syncer) Stats() SyncStats {
	return SyncStats{Applied: y.applied.Load(), Reloads: y.reloads.Load(), Resyncs: y.resyncs.Load(),
		ResyncDiffs: y.diffs.Load(), Errors: y.errors.Load(), Refused: y.refused.Load(), RedisUp: y.up.Load(),
		DatasetLost: y.lost.Load() != nil, LastLoadDur: time.Duration(y.loadDur.Load()), LastLoadN: int(y.loadN.Load()),
		SnapshotLoads:    map[string]uint64{"shared": y.snaps.loadShared.Load(), "local": y.snaps.loadLocal.Load()},
		SnapshotsRefused: y.snaps.refused.Load(), SnapshotsWritten: y.snaps.written.Load(), SnapshotsShared: y.snaps.shared.Load(),
		LastSnapshotBytes: y.snaps.bytes.Load()}
}

func (y *Syncer) setUp(up bool) {
	if up {
		if !y.up.Swap(true) && y.ready.Load() {
			y.log.Info("redis reachable again")
		}
		return
	}
	if y.up.Swap(false) || y.downAt.Load() == 0 {
		y.downAt.Store(time.Now().UnixNano())
		y.log.Warn("redis unreachable; serving the links held in memory")
	}
}

func (y *Syncer) run(ctx context.Context) {
	defer close(y.stopped)
	backoff := newBackoff()
	logCtx, stopLog := context.WithCancel(ctx)
	defer stopLog()
	go y.logProgress(logCtx.Done()) // until the first load is done, whatever its source
	y.startFromSnapshot(ctx)
	for !y.ready.Load() {
		if err := y.reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errRefused) {
				if !backoff.wait(ctx) {
					return
				}
				continue
			}
			y.errors.Add(1)
			y.setUp(false)
			y.log.Error("cannot load links from redis; retrying", "err", err, "retry_in", backoff.peek())
			if !backoff.wait(ctx) {
				return
			}
			continue
		}
		backoff.reset()
	}
	stopLog()
	if y.cfg.ResyncInterval > 0 {
		y.resyncWG.Add(1)
		go func() { defer y.resyncWG.Done(); y.resyncLoop(ctx) }()
	}
	if y.snapshotting() {
		y.resyncWG.Add(1)
		go func() { defer y.resyncWG.Done(); y.snapshotLoop(ctx) }()
	}
	// needReload stays set until a full reload succeeds: while it is set
	// the stream is not followed, so a detected gap is never forgotten.
	needReload := false
	for ctx.Err() == nil {
		if needReload {
			if err := y.reload(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if !errors.Is(err, errRefused) {
					y.errors.Add(1)
					y.log.Error("reload failed; retrying", "err", err)
				}
				if !backoff.wait(ctx) {
					return
				}
				continue
			}
			needReload = false
			backoff.reset()
		}
		prev := y.lastID
		entries, gap, id, err := y.s.ReadChangesChecked(ctx, prev, y.cfg.Block, 1000)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			y.errors.Add(1)
			y.setUp(false)
			if !backoff.wait(ctx) {
				return
			}
			continue
		}
		y.setUp(true)
		backoff.reset()
		// Entries after our position may have been trimmed away, whether
		// the read returned some (a paused edge resumes past a hole) or
		// none (a Redis that came back empty): the check came back with
		// the read, and is looked at before applying.
		if known := y.Dataset(); id != known {
			if known == "" && len(entries) > 0 {
				y.known.Store(id) // the first link of a new dataset
			} else {
				y.log.Warn("the link dataset in redis changed; checking it before anything else", "was", known, "now", id)
				needReload = true
				continue
			}
		}
		if gap {
			y.log.Warn("change stream lost entries after our position; reloading in full", "position", prev)
			needReload = true
			continue
		}
		for _, e := range entries {
			if e.Bad != nil {
				y.log.Error("undecodable change in the stream; reloading in full", "err", e.Bad)
				needReload = true
				break
			}
			y.r.Apply(e.Change)
			y.setPos(e.ID)
			y.applied.Add(1)
		}
	}
}

// setPos moves the stream position (run's goroutine only).
func (y *Syncer) setPos(id string) {
	y.lastID = id
	y.pos.Store(id)
}

// reload loads every link. The stream position is taken first, so changes
// made during the load are read again afterwards (replays are harmless).
// It first checks the dataset: a reload of a dataset that looks lost is
// refused (errRefused) when it would empty the replica or replace it with
// another dataset, and the loss is reported into Redis.
func (y *Syncer) reload(ctx context.Context) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	start := time.Now()
	d, err := y.s.Dataset(ctx)
	if err != nil {
		return err
	}
	if d.ID == "" && d.Links > 0 && len(d.Lost) == 0 {
		// Links stored before datasets had ids: give them one.
		if d.ID, err = y.s.EnsureDataset(ctx); err != nil {
			return err
		}
	}
	known, held, top := y.Dataset(), y.r.Len(), y.r.MaxVersion()
	reason, regressed := judge(d, known, held, top)
	if reason != "" {
		y.setUp(true)
		if known != "" {
			if err := y.s.ReportLost(ctx, known, top); err != nil {
				y.log.Warn("cannot report the lost dataset to redis", "err", err)
			}
		}
		if !regressed || dropsMost(held, int(d.Links)) {
			y.setLost(reason)
			y.refused.Add(1)
			return errRefused
		}
	}
	tail, err := y.s.TailID(ctx)
	if err != nil {
		return err
	}
	n := 0
	y.prog.begin("redis", d.Links)
	defer y.prog.end()
	err = y.r.Load(func(add func(*store.Link)) error {
		err := y.s.ForEachLink(ctx, func(l *store.Link) error {
			n++
			y.prog.add(1)
			add(l)
			return nil
		})
		if err == nil && reason != "" && dropsMost(held, n) {
			// Checked again on what was read: nothing is published.
			y.setLost(reason)
			y.refused.Add(1)
			return errRefused
		}
		return err
	})
	if err != nil {
		return err
	}
	if y.lost.Swap(nil) != nil {
		y.log.Info("the link dataset in redis is back; reloaded it", "dataset", d.ID, "count", n)
	}
	if d.ID != "" {
		y.known.Store(d.ID)
	}
	y.setUp(true)
	y.setPos(tail)
	y.reloads.Add(1)
	dur := time.Since(start)
	y.loadDur.Store(int64(dur))
	y.loadN.Store(int64(n))
	y.ready.Store(true)
	y.log.Info("links loaded from redis", "count", n, "duration", dur.Round(time.Millisecond), "stream_position", tail, "dataset", d.ID)
	return nil
}

func (y *Syncer) resyncLoop(ctx context.Context) {
	ticker.Every(ctx, y.cfg.ResyncInterval, func() {
		if n, err := y.Resync(ctx); err != nil {
			y.log.Warn("resync failed", "err", err)
		} else if n > 0 {
			y.log.Warn("resync fixed differences the change feed had missed", "links", n)
		}
	})
}

// Resync compares every version in Redis with the replica, fetches the
// links that differ and drops those Redis no longer has. It returns the
// number of links fixed.
func (y *Syncer) Resync(ctx context.Context) (int, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	// Never compare with a dataset that looks lost: its missing links
	// would be dropped from the replica.
	d, err := y.s.Dataset(ctx)
	if err != nil {
		return 0, err
	}
	if y.lost.Load() != nil {
		return 0, nil // the stream loop retries the reload
	}
	if reason, _ := judge(d, y.Dataset(), y.r.Len(), y.r.MaxVersion()); reason != "" {
		return 0, fmt.Errorf("resync skipped: %s", reason)
	}
	var stale []string
	inRedis := 0
	err = y.s.Versions(ctx, func(key string, v uint64) {
		inRedis++
		code, domain, _ := strings.Cut(key, "\x00")
		if have, ok := y.r.VersionOf(domain, code); !ok || have < v {
			stale = append(stale, key)
		}
	})
	if err != nil {
		return 0, err
	}
	fixed := 0
	for i := 0; i < len(stale); i += scanBatch {
		batch := stale[i:min(i+scanBatch, len(stale))]
		links, err := y.s.GetLinksByKey(ctx, batch)
		if err != nil {
			return fixed, err
		}
		for _, l := range links {
			if l != nil {
				y.r.Apply(store.Change{Op: store.OpPut, Link: l, Version: l.Version})
				fixed++
			}
		}
	}
	if y.r.Len() > inRedis {
		// Some held links may be gone from Redis: check the held keys.
		type held struct {
			domain, code string
			v            uint64
		}
		var all []held
		y.r.Each(func(domain, code string, v uint64) { all = append(all, held{domain, code, v}) })
		for i := 0; i < len(all); i += scanBatch {
			batch := all[i:min(i+scanBatch, len(all))]
			keys := make([]string, len(batch))
			for j, h := range batch {
				keys[j] = store.LinkKey(h.domain, h.code)
			}
			vers, err := y.s.c.HMGet(ctx, y.s.k.ver, keys...).Result()
			if err != nil {
				return fixed, unavailable(err)
			}
			for j, v := range vers {
				if v == nil {
					h := batch[j]
					y.r.Apply(store.Change{Op: store.OpDelete, Link: &store.Link{Domain: h.domain, Code: h.code}, Version: h.v + 1})
					fixed++
				}
			}
		}
	}
	y.resyncs.Add(1)
	y.diffs.Add(uint64(fixed))
	return fixed, nil
}

// backoff waits 100ms, 200ms, ... up to 5s between retries.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) peek() time.Duration { return b.d }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 5*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
