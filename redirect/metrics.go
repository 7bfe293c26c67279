package redirect

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// numStripes spreads a counter over cache lines so that cores serving
// different connections do not fight over one line. A single shared atomic
// cost about 35 ns per request under parallel load on this project's 2-core
// benchmark machine.
const numStripes = 16

type stripedCounter struct {
	stripes [numStripes]struct {
		n atomic.Uint64
		_ [56]byte // pad to a 64-byte cache line
	}
}

func (c *stripedCounter) inc(id uint64) { c.stripes[id%numStripes].n.Add(1) }

func (c *stripedCounter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}

// Result labels of qredge_redirects_total.
const (
	resultRedirect    = "redirect"
	resultNotFound    = "not_found"
	resultGone        = "gone"
	resultBadMethod   = "bad_method"
	resultInvalidCode = "invalid_code"
	resultPassword    = "password" // a protected link's form or password check
)

var resultNames = [...]string{resultRedirect, resultNotFound, resultGone, resultBadMethod, resultInvalidCode, resultPassword}

type result int

const (
	rRedirect result = iota
	rNotFound
	rGone
	rBadMethod
	rInvalidCode
	rPassword
)

// Metrics counts the handler's answers and times them. It is a
// prometheus.Collector.
type Metrics struct {
	counts   [len(resultNames)]stripedCounter
	latency  stripedHistogram
	desc     *prometheus.Desc
	descTime *prometheus.Desc
}

func newMetrics() *Metrics {
	return &Metrics{
		desc: prometheus.NewDesc("qredge_redirects_total",
			"Requests answered by the redirect handler, by result.", []string{"result"}, nil),
		descTime: prometheus.NewDesc("qredge_redirect_duration_seconds",
			"Time from reading a request's headers to its answer being ready, in the redirect handler (all results).", nil, nil),
	}
}

// latencyBounds are the upper bounds of the redirect latency buckets, in
// nanoseconds: the hot path answers in microseconds, and anything over a
// few milliseconds means the process is starved.
var latencyBounds = [...]int64{1e3, 2.5e3, 5e3, 10e3, 25e3, 50e3, 100e3, 250e3, 500e3, 1e6, 2.5e6, 5e6, 10e6, 25e6, 100e6}

// stripedHistogram is a Prometheus histogram whose buckets are striped
// like stripedCounter: observing is a bucket search and two atomic adds
// on the connection's own cache lines.
type stripedHistogram struct {
	stripes [numStripes]struct {
		buckets [len(latencyBounds) + 1]atomic.Uint64 // the last is +Inf
		sum     atomic.Int64                          // nanoseconds
		_       [64]byte
	}
}

func (h *stripedHistogram) observe(id uint64, ns int64) {
	i := 0
	for i < len(latencyBounds) && ns > latencyBounds[i] {
		i++
	}
	s := &h.stripes[id%numStripes]
	s.buckets[i].Add(1)
	s.sum.Add(ns)
}

// snapshot returns the cumulative counts per bound, the total count and
// the sum in seconds.
func (h *stripedHistogram) snapshot() (map[float64]uint64, uint64, float64) {
	var per [len(latencyBounds) + 1]uint64
	var sum int64
	for i := range h.stripes {
		s := &h.stripes[i]
		for j := range s.buckets {
			per[j] += s.buckets[j].Load()
		}
		sum += s.sum.Load()
	}
	cum := make(map[float64]uint64, len(latencyBounds))
	var n uint64
	for j, b := range latencyBounds {
		n += per[j]
		cum[float64(b)/1e9] = n
	}
	n += per[len(latencyBounds)]
	return cum, n, float64(sum) / 1e9
}

// observeSince records the time since start, the moment fasthttp read the
// request (RequestCtx.Time); a zero start (tests' contexts) is skipped.
func (m *Metrics) observeSince(id uint64, start time.Time) {
	if start.IsZero() {
		return
	}
	m.latency.observe(id, int64(time.Since(start)))
}

// Count returns how many requests ended with the given result label.
func (m *Metrics) Count(label string) uint64 {
	for i, name := range resultNames {
		if name == label {
			return m.counts[i].load()
		}
	}
	return 0
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.desc
	ch <- m.descTime
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for i, name := range resultNames {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.counts[i].load()), name)
	}
	buckets, n, sum := m.latency.snapshot()
	ch <- prometheus.MustNewConstHistogram(m.descTime, n, sum, buckets)
}
