package main

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

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
