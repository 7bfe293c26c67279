package front

import (
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterMetrics registers the counters of a listener's caps (when it
// has any) and of the Host filter (when there is one).
func RegisterMetrics(reg *prometheus.Registry, ln net.Listener, hosts *HostSet) {
	if l, ok := ln.(*limitedListener); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_http_connections_open", Help: "Open connections on the public listener."},
			func() float64 { return float64(l.open.Load()) }))
		for reason, n := range map[string]*atomic.Uint64{"max_conns": &l.refused, "max_conns_per_ip": &l.refusedPerIP} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_http_connections_refused_total",
				Help: "Connections refused by --max-conns (503) and --max-conns-per-ip (429).", ConstLabels: prometheus.Labels{"reason": reason}},
				func() float64 { return float64(n.Load()) }))
		}
	}
	if hosts != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_http_misdirected_total", Help: "Requests (scans; API requests on qredge api) refused with 421 because their Host is not in --hosts."},
			func() float64 { return float64(hosts.refused.Load()) }))
	}
}

// NewRegistry returns a process's registry: the Go runtime's and the
// process's collectors, and cs.
func NewRegistry(cs ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(cs...)
	return reg
}
