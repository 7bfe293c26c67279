package webhook

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/store"
)

// Metrics are the webhook metrics, shared by the Applier (batches queued,
// overflow) and the Deliverer (deliveries, dead letters, outboxes, lag).
type Metrics struct {
	Delivered prometheus.Counter // deliveries the receiver accepted (2xx)
	Retried   prometheus.Counter // attempts that failed and will be retried
	Failed    prometheus.Counter // deliveries that went to the dead letters after an attempt
	Enqueued  prometheus.Counter // batches put in outboxes
	Events    prometheus.Counter // events put in outboxes (a scan for two webhooks counts twice)
	// DeadDropped: dead letters dropped beyond the per-webhook cap.
	DeadDropped prometheus.Counter
	Latency     prometheus.Histogram // of delivery requests that got an answer

	deliveries *prometheus.CounterVec
	dead       *prometheus.CounterVec
	deadBy     map[string]prometheus.Counter
	outbox     *prometheus.GaugeVec
	lag        *prometheus.GaugeVec

	mu       sync.Mutex
	labelled map[string]bool
	maxLabel int
}

// NewMetrics creates the metrics (not registered); the per-webhook gauges
// name at most maxWebhooks webhooks (Config.MetricWebhooks).
func NewMetrics(maxWebhooks int) *Metrics {
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qredge_webhook_deliveries_total",
		Help: "Webhook delivery attempts by result: ok (accepted), retry (failed, will be retried), failed (sent to the dead letters).",
	}, []string{"result"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qredge_webhook_dead_letters_total",
		Help: "Webhook deliveries sent to the dead letters, by reason: rejected (a 4xx answer), gave_up (failing past --webhook-give-up-after), refused (a private address), backlog_full (the outbox was full).",
	}, []string{"reason"})
	m := &Metrics{
		Delivered: deliveries.WithLabelValues("ok"),
		Retried:   deliveries.WithLabelValues("retry"),
		Failed:    deliveries.WithLabelValues("failed"),
		Enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qredge_webhook_batches_enqueued_total", Help: "Webhook deliveries put in outboxes.",
		}),
		Events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qredge_webhook_events_enqueued_total", Help: "Events put in webhook outboxes (once per webhook that receives them).",
		}),
		DeadDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qredge_webhook_dead_letters_dropped_total", Help: "Dead letters dropped, oldest first, beyond the per-webhook cap: lost for good.",
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "qredge_webhook_delivery_seconds", Help: "Time from sending a webhook delivery to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}),
		deliveries: deliveries,
		dead:       dead,
		deadBy:     map[string]prometheus.Counter{},
		outbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qredge_webhook_outbox_batches", Help: "Deliveries waiting in a webhook's outbox, reported by the process that holds its lease.",
		}, []string{"webhook"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "qredge_webhook_lag_seconds", Help: "Age of the oldest delivery waiting in a webhook's outbox, reported by the process that holds its lease.",
		}, []string{"webhook"}),
		labelled: map[string]bool{},
		maxLabel: maxWebhooks,
	}
	for _, r := range []string{store.DeadRejected, store.DeadGaveUp, store.DeadRefused, store.DeadBacklogFull} {
		m.deadBy[r] = dead.WithLabelValues(r)
	}
	return m
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deliveries, m.dead, m.Enqueued, m.Events, m.DeadDropped, m.Latency, m.outbox, m.lag}
}

// DeadLetter counts n dead letters of reason.
func (m *Metrics) DeadLetter(reason string, n int) {
	if c, ok := m.deadBy[reason]; ok {
		c.Add(float64(n))
	}
}

// gauges returns a webhook's outbox and lag gauges, resolved once by the
// worker that delivers it; ok is false when the gauges already name as
// many webhooks as they may.
func (m *Metrics) gauges(id string) (outbox, lag prometheus.Gauge, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.labelled[id] && len(m.labelled) >= m.maxLabel {
		return nil, nil, false
	}
	m.labelled[id] = true
	return m.outbox.WithLabelValues(id), m.lag.WithLabelValues(id), true
}

// dropWebhook removes a webhook's gauges: this process no longer
// delivers it.
func (m *Metrics) dropWebhook(id string) {
	m.mu.Lock()
	delete(m.labelled, id)
	m.mu.Unlock()
	m.outbox.DeleteLabelValues(id)
	m.lag.DeleteLabelValues(id)
}
