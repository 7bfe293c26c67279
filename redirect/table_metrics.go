package redirect

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// LinksGauge returns qredge_links, the links the table holds.
func (t *Table) LinksGauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_links", Help: "Links in the in-memory table."},
		func() float64 { return float64(t.Len()) })
}

// Collectors returns the table's gauges: links held, whether it is loaded
// (what turns /readyz to 200), and the deletes it remembers.
func (t *Table) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		t.LinksGauge(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_ready", Help: "1 once the table is loaded (from a snapshot or from Redis): what turns /readyz to 200."},
			func() float64 { return b2f(t.Ready()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_tombstones", Help: "Deletes the table remembers, so that an answer from Redis older than a delete cannot bring the link back."},
			func() float64 { return float64(t.Tombstones()) }),
	}
}

// Collectors returns qredge_fallback_total: scans of codes missing from
// the table, by what happened (one counter per result).
func (st *FallbackStats) Collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	if st == nil {
		return nil
	}
	for _, r := range []struct {
		name string
		v    *atomic.Uint64
	}{{"lookup", &st.Lookups}, {"found", &st.Found}, {"negative_hit", &st.NegativeHit},
		{"rate_limited", &st.Limited}, {"shared", &st.Shared}, {"error", &st.Errors}} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_fallback_total",
			Help: "Scans of codes missing from the table, by what happened.", ConstLabels: prometheus.Labels{"result": r.name}},
			func() float64 { return float64(r.v.Load()) }))
	}
	return cs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
