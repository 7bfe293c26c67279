package front

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/store"
)

// Resolver adapts the hot path's Explain to the API's Resolver, so that
// the API never imports the hot path.
type Resolver struct{ H *redirect.Handler }

// Resolve is api.Resolver's.
func (r Resolver) Resolve(l *store.Link, req api.ResolveRequest) api.Resolution {
	ex := r.H.Explain(l, redirect.ExplainInput{
		UserAgent: req.UserAgent, AcceptLanguage: req.AcceptLanguage, Country: req.Country, IP: req.IP,
		At: req.At, RawQuery: req.RawQuery, Headers: req.Headers, Cookies: req.Cookies,
	})
	res := api.Resolution{
		Status: ex.Status, Location: ex.Location, Reason: ex.Reason, Variant: ex.Variant, SetCookie: ex.SetCookie,
		Cache:   ex.Cache,
		Visitor: api.ResolvedVisitor{Device: ex.Device, Bot: ex.Bot, Country: ex.Country, Lang: ex.Lang},
		At:      req.At,
	}
	if ex.Rule >= 0 {
		rule := ex.Rule
		res.Rule = &rule
	}
	return res
}

// APIMetrics counts API requests by route (api.Config.Observe). The API is not the hot path, so
// resolving labels per request is fine here.
type APIMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewAPIMetrics returns the API's request counter and latency histogram.
func NewAPIMetrics() *APIMetrics {
	return &APIMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qredge_api_requests_total", Help: "API requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qredge_api_request_duration_seconds", Help: "API request latency by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"method", "route"}),
	}
}

// Observe counts one request; it is api.Config.Observe.
func (m *APIMetrics) Observe(method, pattern string, status int, elapsed time.Duration) {
	if pattern == "" {
		pattern = "unmatched"
	}
	m.requests.WithLabelValues(method, pattern, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, pattern).Observe(elapsed.Seconds())
}

// Collectors returns the counter and the histogram.
func (m *APIMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration}
}

// PolicyViolations is the gauge of the links the destination policy
// refuses.
func PolicyViolations(p *store.DestinationPolicy) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qredge_links_policy_violations",
		Help: "Links whose destinations the destination policy refuses, at the last scan (start-up or GET /api/v1/policy/violations).",
	}, func() float64 { return float64(p.Violations()) })
}
