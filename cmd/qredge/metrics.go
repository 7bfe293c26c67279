package main

import (
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/store"
)

// apiMetrics counts API requests by route. The API is not the hot path, so
// resolving labels per request is fine here.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAPIMetrics() *apiMetrics {
	return &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qredge_api_requests_total", Help: "API requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qredge_api_request_duration_seconds", Help: "API request latency by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"method", "route"}),
	}
}

func (m *apiMetrics) observe(method, pattern string, status int, elapsed time.Duration) {
	if pattern == "" {
		pattern = "unmatched"
	}
	m.requests.WithLabelValues(method, pattern, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, pattern).Observe(elapsed.Seconds())
}

func buildInfo() prometheus.Collector {
	version, commit := versionInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "qredge_build_info",
		Help:        "Always 1; the labels tell the running version.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// policyViolations is the gauge of the links the destination policy
// refuses.
func policyViolations(p *store.DestinationPolicy) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qredge_links_policy_violations",
		Help: "Links whose destinations the destination policy refuses, at the last scan (start-up or GET /api/v1/policy/violations).",
	}, func() float64 { return float64(p.Violations()) })
}
