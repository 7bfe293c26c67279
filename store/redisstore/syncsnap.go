package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qredge/qredge/internal/ticker"
	"github.com/qredge/qredge/store/snapshot"
)

// Snapshotter is a Replica that can give a snapshot of its links and
// load one.
type Snapshotter interface {
	Snapshot(dataset, position string, chunkLinks int) (snapshot.Meta, [][]byte)
	// LoadSnapshot replaces the content with the snapshot's links, of
	// which there must be want (nothing is replaced when a chunk fails or
	// the count differs), calling progress with each chunk's count.
	LoadSnapshot(chunk func(i int) ([]byte, error), chunks, want int, progress func(int)) (int, error)
	// SetReady marks the content ready to serve: LoadSnapshot does not,
	// as the changes made since the snapshot come after it.
	SetReady()
}

// snapStats counts snapshot loads and writes.
type snapStats struct {
	mu                    sync.Mutex // serialises writes
	loadShared, loadLocal atomic.Uint64
	refused               atomic.Uint64
	written, shared       atomic.Uint64
	bytes                 atomic.Int64
	lastPos               string // the position last written, under mu
}

// progress is how far a load is, for /readyz and the log.
type progress struct {
	mu     sync.Mutex
	source string // "" when no load runs
	total  int64
	done   atomic.Int64
	start  time.Time
}

func (p *progress) begin(source string, total int64) {
	p.mu.Lock()
	p.source, p.total, p.start = source, total, time.Now()
	p.done.Store(0)
	p.mu.Unlock()
}

func (p *progress) add(n int) { p.done.Add(int64(n)) }

func (p *progress) end() {
	p.mu.Lock()
	p.source = ""
	p.mu.Unlock()
}

// LoadProgress tells how far the load under way is: its source ("redis",
// "shared snapshot", "local snapshot"), links loaded and the total
// expected (0 when unknown). source is "" when no load runs.
func (y *Syncer) LoadProgress() (source string, done, total int64) {
	y.prog.mu.Lock()
	defer y.prog.mu.Unlock()
	return y.prog.source, y.prog.done.Load(), y.prog.total
}

// logProgress logs the load's progress every few seconds until stop.
func (y *Syncer) logProgress(stop <-chan struct{}) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if src, done, total := y.LoadProgress(); src != "" {
				y.log.Info("loading links", "source", src, "loaded", done, "total", total)
			}
		}
	}
}

func (y *Syncer) snapshotting() bool {
	_, ok := y.r.(Snapshotter)
	return ok && (y.cfg.SnapshotFile != "" || y.cfg.SharedSnapshots)
}

// candidate is a snapshot the replica could start from.
type candidate struct {
	source string // "local" or "shared"
	meta   snapshot.Meta
	chunk  func(i int) ([]byte, error)
}

func (y *Syncer) refuseSnapshot(source string, err error) {
	y.snaps.refused.Add(1)
	y.log.Warn("snapshot refused; loading the links another way", "source", source, "err", err)
}

// startFromSnapshot loads the replica from the newest snapshot that fits
// the dataset in Redis and catches up from the change stream, or, with
// Redis down, from the local snapshot (degraded until Redis answers). It
// leaves the replica not ready when no snapshot fits: run then loads
// from Redis.
func (y *Syncer) startFromSnapshot(ctx context.Context) {
	if !y.snapshotting() {
		return
	}
	var cands []candidate
	if y.cfg.SnapshotFile != "" {
		m, frames, err := snapshot.ReadFile(y.cfg.SnapshotFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			y.refuseSnapshot("local", err)
		default:
			cands = append(cands, candidate{"local", m, func(i int) ([]byte, error) { return frames[i], nil }})
		}
	}
	d, err := y.s.Dataset(ctx)
	if err != nil {
		y.setUp(false)
		for _, c := range cands {
			if err := y.loadSnapshot(c); err != nil {
				y.refuseSnapshot(c.source, err)
				continue
			}
			y.r.(Snapshotter).SetReady()
			y.ready.Store(true)
			y.log.Warn("redis unreachable at start; serving the links of the local snapshot until it answers",
				"count", c.meta.Links, "snapshot_taken", c.meta.Created, "err", err)
			return
		}
		return
	}
	y.setUp(true)
	if y.cfg.SharedSnapshots {
		m, gen, err := y.s.SnapshotMeta(ctx)
		switch {
		case errors.Is(err, ErrNoSnapshot):
		case err != nil:
			y.refuseSnapshot("shared", err)
		default:
			cands = append(cands, candidate{"shared", m, func(i int) ([]byte, error) { return y.s.SnapshotChunk(ctx, gen, i) }})
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return CompareIDs(b.meta.Position, a.meta.Position) })
	for _, c := range cands {
		if c.meta.Dataset != d.ID {
			if d.ID == "" && c.source == "local" && c.meta.Links > 0 {
				// Redis came back empty: hold what the edge served, and
				// let the dataset checks report the loss.
				if err := y.loadSnapshot(c); err == nil {
					if reason, _ := judge(d, c.meta.Dataset, c.meta.Links, c.meta.MaxVersion); reason != "" {
						y.setLost(reason) // before ready: /readyz never says ready without it
					}
					y.r.(Snapshotter).SetReady()
					y.ready.Store(true)
					return
				}
			}
			y.refuseSnapshot(c.source, fmt.Errorf("snapshot of the link dataset %q, redis holds %q", c.meta.Dataset, d.ID))
			continue
		}
		if gap, _, err := y.s.Gap(ctx, c.meta.Position); err != nil {
			return
		} else if gap {
			y.refuseSnapshot(c.source, fmt.Errorf("stale: the change stream no longer holds its position %s (taken %s)", c.meta.Position, c.meta.Created.Format(time.RFC3339)))
			continue
		}
		start := time.Now()
		if err := y.loadSnapshot(c); err != nil {
			y.refuseSnapshot(c.source, err)
			continue
		}
		n, err := y.catchUp(ctx)
		if err != nil {
			y.log.Warn("cannot catch up from the snapshot's position; loading from redis", "err", err)
			return
		}
		if reason, regressed := judge(d, c.meta.Dataset, y.r.Len(), y.r.MaxVersion()); reason != "" && !regressed {
			y.setLost(reason)
		}
		y.r.(Snapshotter).SetReady() // only now: the changes since the snapshot are applied
		y.ready.Store(true)
		y.log.Info("links loaded from a snapshot", "source", c.source, "count", y.r.Len(), "changes_after_it", n,
			"duration", time.Since(start).Round(time.Millisecond), "snapshot_taken", c.meta.Created, "dataset", d.ID)
		return
	}
}

// loadSnapshot replaces the replica's content with the snapshot's links
// and sets the stream position to the snapshot's. Nothing is published
// when a chunk is damaged.
func (y *Syncer) loadSnapshot(c candidate) error {
	start := time.Now()
	src := c.source + " snapshot"
	y.prog.begin(src, int64(c.meta.Links))
	defer y.prog.end()
	n, err := y.r.(Snapshotter).LoadSnapshot(c.chunk, c.meta.Chunks, c.meta.Links, y.prog.add)
	if err != nil {
		return err
	}
	if c.source == "local" {
		y.snaps.loadLocal.Add(1)
	} else {
		y.snaps.loadShared.Add(1)
	}
	y.known.Store(c.meta.Dataset)
	y.setPos(c.meta.Position)
	y.snaps.mu.Lock()
	y.snaps.lastPos = c.meta.Position
	y.snaps.mu.Unlock()
	y.loadDur.Store(int64(time.Since(start)))
	y.loadN.Store(int64(n))
	return nil
}

// catchUp applies the stream from the position until it is read to its
// end, and checks that nothing in between was trimmed.
func (y *Syncer) catchUp(ctx context.Context) (int, error) {
	from, n := y.lastID, 0
	for {
		entries, err := y.s.ReadChanges(ctx, y.lastID, -1, 10000)
		if err != nil {
			return n, err
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			if e.Bad != nil {
				return n, e.Bad
			}
			y.r.Apply(e.Change)
			y.setPos(e.ID)
			y.applied.Add(1)
			n++
		}
	}
	gap, _, err := y.s.Gap(ctx, from)
	if err != nil {
		return n, err
	}
	if gap {
		return n, errors.New("the change stream was trimmed past the snapshot's position while it loaded")
	}
	return n, nil
}

// snapshotLoop refreshes the local snapshot and, when this edge leads,
// the shared one, every SnapshotInterval while the replica changed.
func (y *Syncer) snapshotLoop(ctx context.Context) {
	ticker.Every(ctx, y.cfg.SnapshotInterval, func() {
		if err := y.WriteSnapshots(ctx); err != nil {
			y.log.Warn("snapshot not written", "err", err)
		}
	})
}

// WriteSnapshots writes the local snapshot and, when this edge holds the
// publishing lock and the shared snapshot is older than the replica, a
// new shared snapshot. Nothing is written while the dataset looks lost or
// the replica is not loaded, or when nothing changed since the last one.
func (y *Syncer) WriteSnapshots(ctx context.Context) error { return y.writeSnapshots(ctx, true) }

// SaveLocalSnapshot writes the local snapshot if the replica changed since
// the last one (at shutdown, so that a restart starts from it).
func (y *Syncer) SaveLocalSnapshot() error {
	return y.writeSnapshots(context.Background(), false)
}

func (y *Syncer) writeSnapshots(ctx context.Context, shared bool) error {
	y.snaps.mu.Lock()
	defer y.snaps.mu.Unlock()
	sn, ok := y.r.(Snapshotter)
	if !ok || !y.ready.Load() || y.lost.Load() != nil {
		return nil
	}
	pos, _ := y.pos.Load().(string)
	dataset := y.Dataset()
	if pos == "" || dataset == "" {
		return nil
	}
	lead := false
	if shared && y.cfg.SharedSnapshots && y.up.Load() {
		shared, _, err := y.s.SnapshotMeta(ctx)
		stale := err != nil || shared.Dataset != dataset || CompareIDs(shared.Position, pos) < 0
		if stale {
			ttl := max(2*y.cfg.SnapshotInterval, time.Minute)
			if lead, err = y.s.LeadSnapshots(ctx, y.cfg.Owner, ttl); err != nil {
				lead = false
			}
		}
	}
	local := y.cfg.SnapshotFile != "" && pos != y.snaps.lastPos
	if !local && !lead {
		return nil
	}
	// The position is read before the links: see package snapshot.
	m, frames := sn.Snapshot(dataset, pos, 0)
	y.snaps.bytes.Store(m.Bytes)
	var errs []error
	if local {
		if err := snapshot.WriteFile(y.cfg.SnapshotFile, m, frames); err != nil {
			errs = append(errs, fmt.Errorf("local snapshot: %w", err))
		} else {
			y.snaps.lastPos = pos
			y.snaps.written.Add(1)
		}
	}
	if lead {
		if _, err := y.s.PublishSnapshot(ctx, m, frames); err != nil {
			errs = append(errs, fmt.Errorf("shared snapshot: %w", err))
		} else {
			y.snaps.shared.Add(1)
			y.log.Info("shared snapshot published", "links", m.Links, "bytes", m.Bytes, "position", pos)
		}
	}
	return errors.Join(errs...)
}
