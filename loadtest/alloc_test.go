//go:build !race

package loadtest

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestRunAllocs: what a run allocates does not grow with its requests. Two
// runs of the same length against a server that allocates nothing per
// request, one with 8,000 requests more than the other, allocate the same
// within a few dozen allocations (connections, histograms per second).
func TestRunAllocs(t *testing.T) {
	srv := mustStartRawServer(t)
	mallocs := func(rate float64) (uint64, int64) {
		t.Helper()
		cfg := rawConfig(srv, 4)
		cfg.Codes = Codes("c", 1000)
		cfg.Schedule = Constant(rate, time.Second)
		r, err := newRunner(&cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rep, err := r.run(context.Background())
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if tot := rep.Total; tot.OK != tot.Intended || tot.Errors != 0 {
			t.Fatalf("intended %d ok %d errors %v", tot.Intended, tot.OK, tot.ErrorKinds)
		}
		return after.Mallocs - before.Mallocs, rep.Total.Sent
	}
	mallocs(1000) // warm up: connections, histograms
	a, na := mallocs(2000)
	b, nb := mallocs(10000)
	per := (float64(b) - float64(a)) / float64(nb-na)
	t.Logf("%d allocations for %d requests, %d for %d: %.4f per request", a, na, b, nb, per)
	if per > 0.01 {
		t.Errorf("%.4f allocations per request, want 0", per)
	}
}
