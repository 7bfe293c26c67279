package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// ResyncInterval is how often the replica is compared with Redis in
	// full, as a safety net; 0 disables it.
	ResyncInterval time.Duration
	// Block is how long one stream read waits for changes.
	Block time.Duration
	Log   *slog.Logger
}

// SyncStats are the Syncer's counters, for metrics.
type SyncStats struct {
	Applied     uint64 // changes applied from the stream
	Reloads     uint64 // full reloads (start, gaps)
	Resyncs     uint64 // periodic resyncs done
	ResyncDiffs uint64 // links the resyncs found different and fixed
	Errors      uint64 // failed Redis reads
	RedisUp     bool
	LastLoadDur time.Duration
	LastLoadN   int
}

// Syncer loads every link into a Replica, then follows the change stream:
// it resumes from the last entry it applied after any error, reloads in
// full when the stream lost entries it had not read, and resyncs
// periodically.
type Syncer struct {
	s   *Store
	r   Replica
	cfg SyncConfig
	log *slog.Logger

	mu       sync.Mutex // serialises reloads and resyncs
	lastID   string
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
	stopped  chan struct{}
	cancel   context.CancelFunc
	resyncWG sync.WaitGroup
}

// NewSyncer returns a Syncer; Start starts it.
func NewSyncer(s *Store, r Replica, cfg SyncConfig) *Syncer {
	if cfg.Block <= 0 {
		cfg.Block = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Syncer{s: s, r: r, cfg: cfg, log: cfg.Log, stopped: make(chan struct{})}
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
		ResyncDiffs: y.diffs.Load(), Errors: y.errors.Load(), RedisUp: y.up.Load(),
		LastLoadDur: time.Duration(y.loadDur.Load()), LastLoadN: int(y.loadN.Load())}
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
	for !y.ready.Load() {
		if err := y.reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
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
	if y.cfg.ResyncInterval > 0 {
		y.resyncWG.Add(1)
		go func() { defer y.resyncWG.Done(); y.resyncLoop(ctx) }()
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
				y.errors.Add(1)
				y.log.Error("reload failed; retrying", "err", err)
				if !backoff.wait(ctx) {
					return
				}
				continue
			}
			needReload = false
			backoff.reset()
		}
		prev := y.lastID
		entries, err := y.s.ReadChanges(ctx, prev, y.cfg.Block, 1000)
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
		// none (a Redis that came back empty): check before applying.
		gap, gerr := y.s.Gap(ctx, prev)
		if gerr != nil {
			continue // read prev again once Redis answers
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
			y.lastID = e.ID
			y.applied.Add(1)
		}
	}
}

// reload loads every link. The stream position is taken first, so changes
// made during the load are read again afterwards (replays are harmless).
// A reload that finds no links at all while the replica holds some is
// refused: a Redis that came back empty must not make edges forget links.
func (y *Syncer) reload(ctx context.Context) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	start := time.Now()
	tail, err := y.s.TailID(ctx)
	if err != nil {
		return err
	}
	n := 0
	err = y.r.Load(func(add func(*store.Link)) error {
		return y.s.ForEachLink(ctx, func(l *store.Link) error {
			n++
			add(l)
			return nil
		})
	})
	if err == nil && n == 0 && y.r.Len() > 0 {
		err = fmt.Errorf("redis has no links but %d are held in memory; keeping them (restore Redis from a backup, see docs/redis.md)", y.r.Len())
	}
	if err != nil {
		return err
	}
	y.setUp(true)
	y.lastID = tail
	y.reloads.Add(1)
	d := time.Since(start)
	y.loadDur.Store(int64(d))
	y.loadN.Store(int64(n))
	y.ready.Store(true)
	y.log.Info("links loaded from redis", "count", n, "duration", d.Round(time.Millisecond), "stream_position", tail)
	return nil
}

func (y *Syncer) resyncLoop(ctx context.Context) {
	t := time.NewTicker(y.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := y.Resync(ctx); err != nil {
			y.log.Warn("resync failed", "err", err)
		} else if n > 0 {
			y.log.Warn("resync fixed differences the change feed had missed", "links", n)
		}
	}
}

// Resync compares every version in Redis with the replica, fetches the
// links that differ and drops those Redis no longer has. It returns the
// number of links fixed.
func (y *Syncer) Resync(ctx context.Context) (int, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	var stale []string
	inRedis := 0
	err := y.s.Versions(ctx, func(key string, v uint64) {
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
