package analytics

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/internal/defaults"
)

// Sink publishes encoded events; Publish returns nil only when every
// record was acknowledged. It may keep using the records' bytes after a
// Publish that failed (a write still under way when ctx ended).
type Sink interface {
	Publish(ctx context.Context, records []Record) error
}

// Record is one encoded event as the pipeline hands it to a Sink.
type Record struct {
	// Key is the event id, 16 bytes inside Value, or nil when Value holds
	// none (a damaged record read back from the spool). The Kafka writer
	// partitions by it.
	Key   []byte
	Value []byte // ScanEvent bytes
}

// Config configures a Pipeline. Get defaults from DefaultConfig.
type Config struct {
	QueueSize int // events the in-memory queue holds
	// HighWater: with more events queued than this, batches go to the
	// spool instead of waiting for the sink, so the queue keeps draining.
	HighWater      int
	BatchSize      int           // events per batch
	Linger         time.Duration // longest wait to fill a batch
	PublishTimeout time.Duration // one publish attempt
	SpoolDir       string
	SpoolMaxBytes  int64 // cap of the spool on disk; beyond it events are dropped and counted
	SegmentBytes   int64
	Edge           string // node id written into events
	IPHashSecret   []byte // shared by all edges, so unique visitors count across them
	RetryInterval  time.Duration
	// Enrich, when set, works out what the hot path left in an event's
	// raw fields (Event.Enrich) before it is encoded. It runs on the
	// batcher's goroutine.
	Enrich func(*Event)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{QueueSize: 1 << 16, HighWater: 1 << 15, BatchSize: 1000, Linger: 50 * time.Millisecond,
		PublishTimeout: 5 * time.Second, SpoolMaxBytes: 1 << 30, SegmentBytes: 16 << 20, RetryInterval: time.Second}
}

// Stats are the pipeline's counters.
type Stats struct {
	Enqueued      atomic.Uint64 // accepted by the queue
	QueueFull     atomic.Uint64 // refused by the full queue (dropped)
	Published     atomic.Uint64 // acknowledged by the sink, first try
	Spooled       atomic.Uint64 // written to the spool
	Replayed      atomic.Uint64 // acknowledged by the sink from the spool
	SpoolDropped  atomic.Uint64 // dropped because the spool was at its cap
	DiskFull      atomic.Uint64 // dropped because the spool's disk was full (ENOSPC)
	Corrupt       atomic.Uint64 // bytes of damaged spool records discarded
	PublishErrors atomic.Uint64
	PublishNanos  atomic.Uint64 // total time in successful publishes
	Publishes     atomic.Uint64
}

// Pipeline moves events from the Queue to the Sink, or to the spool when
// the sink is slow, failing or absent, and replays the spool oldest first.
type Pipeline struct {
	cfg     Config
	q       *Queue
	sink    Sink
	spool   *spool.Spool
	enc     *Encoder
	log     *slog.Logger
	stats   Stats
	healthy atomic.Bool
	corrupt map[string]bool // damaged segments already reported (replayer only)
	// The batcher's buffers for encoded records, reused from batch to
	// batch once the sink acknowledged or the spool wrote them: values
	// holds each record's bytes (what the spool takes), records the same
	// with their keys (what the sink takes).
	arena   []byte
	values  [][]byte
	records []Record
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Start opens the spool and starts the pipeline. sink may be nil: then
// every event is kept in the spool (the embedded mode and edges without
// Kafka).
func Start(cfg Config, sink Sink, log *slog.Logger) (*Pipeline, error) {
	d := DefaultConfig()
	defaults.Positive(&cfg.QueueSize, d.QueueSize)
	if cfg.HighWater <= 0 || cfg.HighWater > cfg.QueueSize {
		cfg.HighWater = cfg.QueueSize / 2
	}
	defaults.Positive(&cfg.BatchSize, d.BatchSize)
	defaults.Positive(&cfg.Linger, d.Linger)
	defaults.Positive(&cfg.PublishTimeout, d.PublishTimeout)
	defaults.Positive(&cfg.SpoolMaxBytes, d.SpoolMaxBytes)
	defaults.Positive(&cfg.SegmentBytes, d.SegmentBytes)
	defaults.Positive(&cfg.RetryInterval, d.RetryInterval)
	if log == nil {
		log = slog.Default()
	}
	sp, err := spool.Open(cfg.SpoolDir, cfg.SpoolMaxBytes, cfg.SegmentBytes)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, q: NewQueue(cfg.QueueSize), sink: sink, spool: sp, enc: NewEncoder(cfg.IPHashSecret, cfg.Edge),
		log: log, stop: make(chan struct{}), corrupt: map[string]bool{}}
	p.healthy.Store(true)
	if n := sp.Size(); n > 0 {
		log.Info("spool holds events from before; they will be delivered", "bytes", n)
	}
	p.wg.Add(1)
	go p.batcher()
	if sink != nil {
		p.wg.Add(1)
		go p.replayer()
	}
	return p, nil
}

// Queue returns the queue the hot path enqueues to.
func (p *Pipeline) Queue() *Queue { return p.q }

// Spool returns the pipeline's spool.
func (p *Pipeline) Spool() *spool.Spool { return p.spool }

// Stats returns the counters (the queue's included).
func (p *Pipeline) Stats() *Stats {
	p.stats.Enqueued.Store(p.q.enqueued.Load())
	p.stats.QueueFull.Store(p.q.full.Load())
	return &p.stats
}

// Healthy reports whether the last publish succeeded.
func (p *Pipeline) Healthy() bool { return p.healthy.Load() }

// Close stops taking events, delivers or spools everything queued, and
// seals the spool. Nothing queued is lost.
func (p *Pipeline) Close() error {
	close(p.stop)
	p.wg.Wait()
	return p.spool.Close()
}

func (p *Pipeline) batcher() {
	defer p.wg.Done()
	batch := make([]Event, 0, p.cfg.BatchSize)
	var first time.Time // when the oldest event of batch was taken
	flush := func() {
		if len(batch) > 0 {
			p.deliver(batch)
			batch = batch[:0]
		}
	}
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		e, ok := p.q.Dequeue()
		if ok {
			if len(batch) == 0 {
				first = time.Now()
			}
			batch = append(batch, e)
			if len(batch) == p.cfg.BatchSize {
				flush()
			}
			continue
		}
		var timeout <-chan time.Time
		if len(batch) > 0 {
			left := p.cfg.Linger - time.Since(first)
			if left <= 0 {
				flush()
				continue
			}
			linger.Reset(left) // since Go 1.23 this also drops a stale tick
			timeout = linger.C
		}
		select {
		case <-p.stop:
			// Refuse new events, then drain every claimed slot, waiting
			// for producers that claimed one but have not filled it yet.
			p.q.Close()
			deadline := time.Now().Add(time.Second)
			for {
				e, ok := p.q.Dequeue()
				if !ok {
					if p.q.pending() && time.Now().Before(deadline) {
						runtime.Gosched()
						continue
					}
					break
				}
				batch = append(batch, e)
				if len(batch) == p.cfg.BatchSize {
					flush()
				}
			}
			flush()
			return
		default:
		}
		// Woken by the queue: no polling while idle, no timer per event.
		// With a batch begun, by the linger timer or once the queue
		// holds the rest of a batch: waking for every event costs the
		// busy core a goroutine switch per event.
		wakeAt := 0
		if len(batch) > 0 {
			wakeAt = p.cfg.BatchSize - len(batch)
		}
		p.q.Wait(p.stop, timeout, wakeAt)
	}
}

// encode encodes a batch into records that share one buffer, reused by
// the next batch (see deliver). Each record's key is its event id, where
// the encoder wrote it.
func (p *Pipeline) encode(batch []Event) ([][]byte, []Record) {
	buf, values, records := p.arena[:0], p.values[:0], p.records[:0]
	for i := range batch {
		if batch[i].Enrich != 0 && p.cfg.Enrich != nil {
			p.cfg.Enrich(&batch[i])
		}
		start := len(buf)
		var idAt int
		buf, idAt = p.enc.appendKeyed(buf, &batch[i])
		values = append(values, buf[start:len(buf):len(buf)])
		records = append(records, Record{Key: buf[idAt : idAt+len(batch[i].ID) : idAt+len(batch[i].ID)], Value: values[i]})
	}
	p.arena, p.values, p.records = buf, values, records
	return values, records
}

// deliver publishes a batch, or spools it when there is no sink, the sink
// is failing, the queue is past its high-water mark, or we are stopping.
func (p *Pipeline) deliver(batch []Event) {
	values, records := p.encode(batch)
	stopping := false
	select {
	case <-p.stop:
		stopping = true
	default:
	}
	if p.sink != nil && p.healthy.Load() && p.q.Len() < p.cfg.HighWater && !stopping {
		err := p.publish(records)
		if err == nil {
			p.stats.Published.Add(uint64(len(records)))
			return
		}
		// A failed write may still be in the sink's hands (a timed-out
		// request): the next batch gets buffers of its own.
		defer func() { p.arena, p.values, p.records = nil, nil, nil }()
	}
	p.toSpool(values)
}

func (p *Pipeline) publish(records []Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PublishTimeout)
	defer cancel()
	start := time.Now()
	err := p.sink.Publish(ctx, records)
	if err != nil {
		p.stats.PublishErrors.Add(1)
		if p.healthy.Swap(false) {
			p.log.Warn("event sink failing: spooling events to disk", "err", err)
		}
		return err
	}
	p.stats.Publishes.Add(1)
	p.stats.PublishNanos.Add(uint64(time.Since(start)))
	if !p.healthy.Swap(true) {
		p.log.Info("event sink healthy again")
	}
	return nil
}

func (p *Pipeline) toSpool(records [][]byte) {
	err := p.spool.Append(records)
	switch {
	case err == nil:
		p.stats.Spooled.Add(uint64(len(records)))
	case errors.Is(err, spool.ErrFull):
		if p.stats.SpoolDropped.Add(uint64(len(records))) == uint64(len(records)) {
			p.log.Error("spool is at its cap: dropping events (counted in qredge_events_dropped_total)", "cap_bytes", p.cfg.SpoolMaxBytes)
		}
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		if p.stats.DiskFull.Add(uint64(len(records))) == uint64(len(records)) {
			p.log.Error("the spool's disk is full: dropping events (counted in qredge_events_dropped_total{reason=\"disk_full\"}); free space on it", "dir", p.cfg.SpoolDir, "err", err)
		}
	default:
		p.stats.SpoolDropped.Add(uint64(len(records)))
		p.log.Error("cannot write the spool: dropping events", "err", err)
	}
}

// replayer sends spooled segments to the sink, oldest first, and deletes a
// segment only when every batch in it was acknowledged.
func (p *Pipeline) replayer() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.RetryInterval)
	defer t.Stop()
	done := map[string]int{} // segment -> batches already acknowledged
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		for p.replayOne(done) {
			select {
			case <-p.stop:
				return
			default:
			}
		}
	}
}

// replayOne replays the oldest segment; it reports whether it made
// progress and should be called again.
func (p *Pipeline) replayOne(done map[string]int) bool {
	if p.spool.Size() == 0 {
		return false
	}
	name, err := p.spool.Oldest()
	if err != nil {
		p.log.Error("cannot list the spool", "err", err)
		return false
	}
	if name == "" {
		// Everything is in the segment being written: seal it so it can
		// be replayed (when the sink is back, few events are left there).
		if err := p.spool.Seal(); err != nil {
			p.log.Error("cannot seal the spool segment", "err", err)
		}
		return false
	}
	seg, err := p.spool.ReadSegment(name)
	if err != nil {
		p.log.Error("cannot read spool segment", "segment", name, "err", err)
		return false
	}
	if seg.Bad > 0 {
		if _, reported := p.corrupt[name]; !reported {
			p.corrupt[name] = true
			p.stats.Corrupt.Add(uint64(seg.Bad))
			p.log.Error("damaged spool segment: delivering its intact records, discarding the rest",
				"segment", name, "good_bytes", seg.Good, "discarded_bytes", seg.Bad, "err", seg.BadError)
		}
	}
	for i := done[name]; i < len(seg.Batches); i++ {
		// Stop between batches: a segment holds up to about 160 batches,
		// and a slow broker must not hold Close for all of them. What is
		// left stays in the spool for the next start.
		select {
		case <-p.stop:
			return false
		default:
		}
		if err := p.publish(keyed(seg.Batches[i])); err != nil {
			return false
		}
		p.stats.Replayed.Add(uint64(len(seg.Batches[i])))
		done[name] = i + 1
	}
	if err := p.spool.Remove(name); err != nil {
		p.log.Error("cannot remove a delivered spool segment", "segment", name, "err", err)
		return false
	}
	delete(done, name)
	delete(p.corrupt, name)
	return true
}

// keyed gives spooled records their keys: the spool keeps only the
// encoded events, so the id is found in each one again.
func keyed(values [][]byte) []Record {
	records := make([]Record, len(values))
	for i, v := range values {
		records[i] = Record{Key: EventIDBytes(v), Value: v}
	}
	return records
}
