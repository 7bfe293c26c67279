package redirect

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/store"
)

func TestStripedHistogram(t *testing.T) {
	var h stripedHistogram
	for i, ns := range []int64{500, 1000, 1001, 3e6, 2e9} {
		h.observe(uint64(i), ns) // different stripes
	}
	buckets, n, sum := h.snapshot()
	if n != 5 || sum != (500+1000+1001+3e6+2e9)/1e9 {
		t.Fatalf("count %d sum %v", n, sum)
	}
	for bound, want := range map[float64]uint64{1e-6: 2, 2.5e-6: 3, 2.5e-3: 3, 5e-3: 4, 0.1: 4} {
		if buckets[bound] != want {
			t.Errorf("bucket le=%v: %d, want %d (%v)", bound, buckets[bound], want, buckets)
		}
	}
}

// TestLatencyMetric: every request the handler answers, whatever the
// result, is timed in qredge_redirect_duration_seconds.
func TestLatencyMetric(t *testing.T) {
	h := NewHandler(DefaultConfig(), newTestTable(&store.Link{Code: "a", Destination: "https://example.com/"}))
	for _, uri := range []string{"/a", "/nope", "/a.b"} {
		h.Serve(newCtx(uri, "localhost"))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "qredge_redirect_duration_seconds" {
			continue
		}
		hist := mf.GetMetric()[0].GetHistogram()
		if hist.GetSampleCount() != 3 || hist.GetSampleSum() <= 0 || len(hist.GetBucket()) != len(latencyBounds) {
			t.Fatalf("histogram %v", hist)
		}
		return
	}
	t.Fatal("no qredge_redirect_duration_seconds")
}
