package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/qredge/qredge/loadtest"
)

// opts are the suite's settings, from the flags.
type opts struct {
	links                  int
	rate                   float64 // req/s over both edges
	before, during, after  time.Duration
	qredge, kfake, workDir string
	keep                   bool
}

// scenario is one fault: fault runs at the start of the "during" phase
// (while the load runs) and returns a description and the edge whose
// connection errors are expected (-1 for none).
type scenario struct {
	name  string
	aof   bool // Redis with appendonly and fsync always
	fault func(ctx context.Context, s *stack, o *opts, r *result) error
	// extra load in the during phase (the unknown-code storm)
	storm bool
}

// result is one scenario's line of the report.
type result struct {
	Name          string  `json:"name"`
	Rate          float64 `json:"rate"`
	DurationS     float64 `json:"duration_s"`
	Fault         string  `json:"fault"`
	KnownRequests int64   `json:"known_requests"`
	KnownErrors   int64   `json:"known_errors"`
	// ExpectedErrors are connection errors on an edge while it was down on
	// purpose (edge-sigkill, sigterm), counted apart.
	ExpectedErrors int64            `json:"expected_errors"`
	ErrorKinds     map[string]int64 `json:"error_kinds,omitempty"`
	EventsSent     int64            `json:"events_sent"`
	EventsCounted  int64            `json:"events_counted"`
	EventsLost     int64            `json:"events_lost"`
	LinksBefore    int              `json:"links_before"`
	LinksAfter     int              `json:"links_after"`
	LinksLost      int              `json:"links_lost"`
	P99BeforeMs    float64          `json:"p99_before_ms"`
	P99DuringMs    float64          `json:"p99_during_ms"`
	P99AfterMs     float64          `json:"p99_after_ms"`
	// unknown-storm only
	UnknownRequests     int64          `json:"unknown_requests,omitempty"`
	UnknownErrors       int64          `json:"unknown_errors,omitempty"`
	RedisCallsPerUnknow float64        `json:"redis_calls_per_unknown_request,omitempty"`
	Extra               map[string]any `json:"extra,omitempty"`
	Pass                bool           `json:"pass"`
	Reasons             []string       `json:"reasons,omitempty"`

	faultedEdge int
	mu          sync.Mutex
}

func (r *result) fail(format string, args ...any) {
	r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
}

// loadCfg is the steady load on one edge: half the rate, known codes only.
func loadCfg(o *opts, target string, d time.Duration, seed uint64) loadtest.Config {
	cfg := loadtest.DefaultConfig()
	cfg.Target = target
	cfg.Codes = loadtest.Codes("c", o.links)
	cfg.Dist = loadtest.DistUniform
	cfg.Schedule = loadtest.Constant(o.rate/2, d)
	cfg.Seed = seed
	cfg.Timeout = 2 * time.Second
	cfg.BacklogTimeout = 2 * time.Second
	return cfg
}

// runScenario starts a fresh stack, runs the load in three phases with the
// fault at the start of the second, and checks the invariants.
func runScenario(ctx context.Context, o *opts, sc scenario) (res *result) {
	res = &result{Name: sc.name, Rate: o.rate, DurationS: (o.before + o.during + o.after).Seconds(), faultedEdge: -1, Extra: map[string]any{}}
	defer func() {
		res.Pass = len(res.Reasons) == 0
		if len(res.Extra) == 0 {
			res.Extra = nil
		}
	}()
	dir, err := os.MkdirTemp("", "qredge-chaos-"+sc.name+"-")
	if err != nil {
		res.fail("setup: %v", err)
		return res
	}
	s, err := newStack(ctx, dir, o.qredge, o.kfake, sc.aof)
	defer func() {
		if s != nil {
			s.close()
		}
		if o.keep || !res.Pass && len(res.Reasons) > 0 {
			fmt.Fprintf(os.Stderr, "chaos: %s: logs kept in %s\n", sc.name, dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	if err != nil {
		res.fail("setup: %v", err)
		return res
	}
	if err := s.seed(o.links); err != nil {
		res.fail("setup: %v", err)
		return res
	}
	for i := range 2 {
		if err := s.startEdge(ctx, i); err != nil {
			res.fail("setup: edge %d: %v", i, err)
			return res
		}
	}
	if err := s.startAnalytics(ctx); err != nil {
		res.fail("setup: %v", err)
		return res
	}
	if res.LinksBefore, err = s.countLinks(); err != nil {
		res.fail("links before: %v", err)
		return res
	}

	var known [3][2]*loadtest.Report // phase × edge
	phases := []time.Duration{o.before, o.during, o.after}
	var stormRep *loadtest.Report
	var callsBefore, callsAfter map[string]int64
	for ph, d := range phases {
		var wg sync.WaitGroup
		for e := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := loadtest.Run(ctx, loadCfg(o, s.edgeURL(e), d, uint64(ph*2+e+1)), nil)
				if err != nil {
					res.mu.Lock()
					res.fail("load phase %d edge %d: %v", ph, e, err)
					res.mu.Unlock()
				}
				known[ph][e] = rep
			}()
		}
		if ph == 1 {
			if sc.storm {
				callsBefore, _ = s.redisCalls()
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(time.Second)
					stormRep = runStorm(ctx, o, s, res)
				}()
			}
			if sc.fault != nil {
				if err := sc.fault(ctx, s, o, res); err != nil {
					res.mu.Lock()
					res.fail("fault: %v", err)
					res.mu.Unlock()
				}
			}
		}
		wg.Wait()
		if ph == 1 && sc.storm {
			callsAfter, _ = s.redisCalls()
		}
		if ctx.Err() != nil {
			res.fail("interrupted")
			return res
		}
	}

	// Errors and latency.
	kinds := map[string]int64{}
	for ph := range 3 {
		var p99 int64
		for e := range 2 {
			rep := known[ph][e]
			if rep == nil {
				continue
			}
			t := &rep.Total
			res.KnownRequests += t.Intended
			res.EventsSent += redirects(&t.Counts)
			p99 = max(p99, t.Latency.P99)
			expected := ph == 1 && e == res.faultedEdge
			for k, n := range t.ErrorKinds {
				if expected && k == loadtest.KindConnection {
					res.ExpectedErrors += n
					continue
				}
				res.KnownErrors += n
				kinds[fmt.Sprintf("%s/edge%d/phase%d", k, e, ph)] += n
			}
		}
		ms := float64(p99) / 1e3
		switch ph {
		case 0:
			res.P99BeforeMs = ms
		case 1:
			res.P99DuringMs = ms
		case 2:
			res.P99AfterMs = ms
		}
	}
	if len(kinds) > 0 {
		res.ErrorKinds = kinds
	}
	if res.KnownErrors != 0 {
		res.fail("%d errors for known codes", res.KnownErrors)
	}
	if stormRep != nil {
		res.UnknownRequests = stormRep.Total.Intended
		res.UnknownErrors = stormRep.Total.Errors
		if res.UnknownErrors != 0 {
			res.fail("%d unknown-code requests did not get 404: %v", res.UnknownErrors, stormRep.Total.ErrorKinds)
		}
		var delta int64
		for k, v := range callsAfter {
			delta += v - callsBefore[k]
		}
		res.Extra["redis_calls_during_phase"] = delta
		res.Extra["redis_hget_calls_during_phase"] = callsAfter["hget"] - callsBefore["hget"]
		if res.UnknownRequests > 0 {
			res.RedisCallsPerUnknow = float64(callsAfter["hget"]-callsBefore["hget"]) / float64(res.UnknownRequests)
			if res.RedisCallsPerUnknow > 0.01 {
				res.fail("%.3f Redis lookups (HGET) per unknown request, want ~0", res.RedisCallsPerUnknow)
			}
		}
	}

	// Events and links.
	t := time.Now()
	counted, err := s.waitCounted(ctx, res.EventsSent)
	res.Extra["catch_up_s"] = math.Round(time.Since(t).Seconds()*10) / 10
	if err != nil {
		res.fail("events counted: %v", err)
	}
	res.EventsCounted = counted
	res.EventsLost = res.EventsSent - counted
	if counted != res.EventsSent {
		res.fail("analytics counted %d scans, %d were answered with a redirect", counted, res.EventsSent)
	}
	if res.LinksAfter, err = s.countLinks(); err != nil {
		res.fail("links after: %v", err)
	}
	res.LinksLost = res.LinksBefore - res.LinksAfter
	if res.LinksBefore != o.links || res.LinksAfter != res.LinksBefore {
		res.fail("links: %d seeded, %d before, %d after", o.links, res.LinksBefore, res.LinksAfter)
	}
	return res
}

// runStorm sends 20,000 requests for random unknown codes in 4 s, to the
// two edges at once.
func runStorm(ctx context.Context, o *opts, s *stack, res *result) *loadtest.Report {
	var reps [2]*loadtest.Report
	var wg sync.WaitGroup
	for e := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := loadCfg(o, s.edgeURL(e), 4*time.Second, uint64(100+e))
			cfg.Schedule = loadtest.Constant(2500, 4*time.Second)
			cfg.UnknownFraction = 1
			cfg.Codes = nil
			rep, err := loadtest.Run(ctx, cfg, nil)
			if err != nil {
				res.mu.Lock()
				res.fail("storm on edge %d: %v", e, err)
				res.mu.Unlock()
			}
			reps[e] = rep
		}()
	}
	wg.Wait()
	if reps[0] == nil || reps[1] == nil {
		return nil
	}
	sum := *reps[0]
	sum.Total.Intended += reps[1].Total.Intended
	sum.Total.Errors += reps[1].Total.Errors
	kinds := map[string]int64{}
	for _, r := range reps {
		for k, v := range r.Total.ErrorKinds {
			kinds[k] += v
		}
	}
	sum.Total.ErrorKinds = kinds
	return &sum
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
