package aggregate

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Brake pauses and resumes an aggregator: the emergency brake. While it is
// engaged the aggregator finishes the batch in hand, then reads nothing
// more; events wait where they are (Kafka, or the embedded log), so
// nothing is lost, and counting resumes where it stopped.
//
// An aggregator applies each batch between Begin and End, so the brake
// knows when the batches in hand are done: Halted.
type Brake struct {
	mu     sync.Mutex
	paused bool
	resume chan struct{} // closed on Resume
	busy   int           // batches between Begin and End
	halted chan struct{} // closed once paused with busy at 0; a new one on Resume
	gauge  prometheus.Gauge
}

// NewBrake returns a released brake that reports its state in gauge (may
// be nil).
func NewBrake(gauge prometheus.Gauge) *Brake {
	return &Brake{resume: make(chan struct{}), halted: make(chan struct{}), gauge: gauge}
}

// Pause engages the brake. It reports whether the state changed.
func (b *Brake) Pause() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused {
		return false
	}
	b.paused = true
	b.resume = make(chan struct{})
	if b.busy == 0 {
		close(b.halted)
	}
	if b.gauge != nil {
		b.gauge.Set(1)
	}
	return true
}

// Resume releases the brake. It reports whether the state changed.
func (b *Brake) Resume() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.paused {
		return false
	}
	b.paused = false
	close(b.resume)
	select {
	case <-b.halted:
		b.halted = make(chan struct{}) // the next engagement's
	default: // it never halted: the same channel serves the next engagement
	}
	if b.gauge != nil {
		b.gauge.Set(0)
	}
	return true
}

// Begin is called by an aggregator before it applies a batch, and End
// after. Begin reports false, and the batch must wait, while the brake is
// engaged.
func (b *Brake) Begin() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.paused {
		return false
	}
	b.busy++
	return true
}

// End marks the end of a batch that Begin let through.
func (b *Brake) End() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy == 0 {
		panic("BUG: aggregate.Brake.End without Begin")
	}
	b.busy--
	if b.busy == 0 && b.paused {
		close(b.halted)
	}
}

// Halted returns a channel that is closed once the brake is engaged and
// no batch is in hand: from then until Resume nothing is applied. For a
// released brake it is the channel of its next engagement.
func (b *Brake) Halted() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.halted
}

// Released returns a channel that is closed when the brake is released
// (at once if it is not engaged).
func (b *Brake) Released() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.paused {
		return closedChan
	}
	return b.resume
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Paused reports whether the brake is engaged.
func (b *Brake) Paused() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.paused
}

// Wait returns at once when the brake is released, else when it is
// released or ctx is done (then with ctx's error).
func (b *Brake) Wait(ctx context.Context) error {
	b.mu.Lock()
	paused, ch := b.paused, b.resume
	b.mu.Unlock()
	if !paused {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Metrics are the aggregators' Prometheus metrics, shared by the Kafka
// consumer and the embedded aggregator so dashboards read the same names.
type Metrics struct {
	Applied   prometheus.Counter   // events counted
	Duplicate prometheus.Counter   // events seen before (producer retries), not counted again
	Poison    prometheus.Counter   // undecodable or unknown-version events, skipped
	Skipped   prometheus.Counter   // offsets Kafka deleted before they were counted
	Batches   prometheus.Counter   // batches applied
	Freshness prometheus.Histogram // scan to visible count, seconds
	Apply     prometheus.Histogram // time to write one batch, seconds
	Paused    prometheus.Gauge
	Lag       *prometheus.GaugeVec // by Kafka partition: events not yet applied
	// LagBytes: bytes of the embedded log (qredge serve's spool) not yet
	// applied; counting its events would mean reading them. It has no
	// labels: the series exists once the embedded aggregator takes it
	// (LagBytes.WithLabelValues()), so only processes that have the log
	// export it.
	LagBytes *prometheus.GaugeVec

	events *prometheus.CounterVec
}

// NewMetrics creates the metrics (not registered).
func NewMetrics() *Metrics {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qredge_analytics_events_total",
		Help: "Scan events read by the aggregator, by result: applied (counted), duplicate (already counted, skipped), poison (undecodable, skipped).",
	}, []string{"result"})
	return &Metrics{
		Applied:   events.WithLabelValues("applied"),
		Duplicate: events.WithLabelValues("duplicate"),
		Poison:    events.WithLabelValues("poison"),
		Skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qredge_analytics_offsets_lost_total",
			Help: "Events Kafka deleted (retention) before they were counted: should stay 0.",
		}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qredge_analytics_batches_total", Help: "Batches of events applied to the aggregates.",
		}),
		Freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qredge_analytics_freshness_seconds",
			Help:    "Time from a scan to its count being visible in the stats.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}),
		Apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qredge_analytics_apply_seconds",
			Help:    "Time to write one batch of aggregates.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qredge_analytics_paused", Help: "1 while the aggregator is paused (the emergency brake).",
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qredge_analytics_lag", Help: "Events in Kafka not yet applied, by partition.",
		}, []string{"partition"}),
		LagBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qredge_analytics_lag_bytes", Help: "Bytes of the embedded event log (the spool of qredge serve) not yet applied.",
		}, nil),
		events: events,
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.Skipped, m.Batches, m.Freshness, m.Apply, m.Paused, m.Lag, m.LagBytes}
}

// ObserveFreshness records the freshness of events scanned at the given
// Unix nanosecond times, now that they are visible.
func (m *Metrics) ObserveFreshness(times []int64) {
	now := time.Now().UnixNano()
	for _, t := range times {
		d := float64(now-t) / 1e9
		if d < 0 {
			d = 0
		}
		m.Freshness.Observe(d)
	}
}
