package analytics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors returns the pipeline's metrics: qredge_events_total by stage,
// qredge_events_dropped_total by reason, the queue's depth, the spool's
// size and damage, and the sink's writes (named for Kafka, the only
// sink). Each reads a counter the pipeline keeps anyway.
func (p *Pipeline) Collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, r := range []struct {
		name string
		v    *atomic.Uint64
	}{{"enqueued", &p.q.enqueued}, {"published", &p.stats.Published}, {"spooled", &p.stats.Spooled}, {"replayed", &p.stats.Replayed}} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_events_total",
			Help: "Scan events by what happened to them.", ConstLabels: prometheus.Labels{"stage": r.name}},
			func() float64 { return float64(r.v.Load()) }))
	}
	for _, r := range []struct {
		name string
		v    *atomic.Uint64
	}{{"queue_full", &p.q.full}, {"spool_full", &p.stats.SpoolDropped}, {"disk_full", &p.stats.DiskFull}} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_events_dropped_total",
			Help: "Scan events lost, by reason (should stay 0).", ConstLabels: prometheus.Labels{"reason": r.name}},
			func() float64 { return float64(r.v.Load()) }))
	}
	return append(cs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_event_queue_depth", Help: "Scan events waiting in memory."},
			func() float64 { return float64(p.q.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_spool_bytes", Help: "Bytes of scan events in the spool."},
			func() float64 { return float64(p.spool.Size()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_spool_corrupt_bytes_total", Help: "Bytes of damaged spool records discarded."},
			func() float64 { return float64(p.stats.Corrupt.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_write_errors_total", Help: "Failed Kafka writes (events then go to the spool)."},
			func() float64 { return float64(p.stats.PublishErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_write_seconds_total", Help: "Time spent in successful Kafka writes; divide by qredge_kafka_writes_total for the mean latency."},
			func() float64 { return float64(p.stats.PublishNanos.Load()) / 1e9 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_writes_total", Help: "Successful Kafka writes."},
			func() float64 { return float64(p.stats.Publishes.Load()) }),
	)
}
