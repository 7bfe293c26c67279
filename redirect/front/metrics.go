package front

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterMetrics registers the counters of a listener's caps (when it
// has any) and of the Host filter (when there is one).
func RegisterMetrics(reg *prometheus.Registry, ln net.Listener, hosts *HostSet) {
	if l, ok := ln.(*limitedListener); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_http_connections_open", Help: "Open connections on the public listener."},
			func() float64 { return float64(l.open.Load()) }))
		desc := prometheus.NewDesc("qredge_http_connections_refused_total", "Connections refused by --max-conns (503) and --max-conns-per-ip (429).", []string{"reason"}, nil)
		reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.refused.Load()), "max_conns")
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.refusedPerIP.Load()), "max_conns_per_ip")
		}})
	}
	if hosts != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_http_misdirected_total", Help: "Requests (scans; API requests on qredge api) refused with 421 because their Host is not in --hosts."},
			func() float64 { return float64(hosts.refused.Load()) }))
	}
}

// collectorFunc is a prometheus.Collector from a function.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
