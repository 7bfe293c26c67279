package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/qredge/qredge/loadtest"
)

// opts are the suite's settings, from the flags.
type opts struct {
	links                  int
	rate                   float64 // req/s over both edges
	warmup, before         time.Duration
	during, after          time.Duration
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
	// spool: the fault must have sent events to the edges' spools
	spool bool
	// spoolMax, when set, is the edges' --spool-max-bytes, and the fault
	// must fill it: the events beyond it are dropped and counted, and
	// the analytics must miss exactly those
	spoolMax int64
	// during, when set, is this scenario's fault phase instead of -during
	during time.Duration
	// keepLatency: the known codes' p99 during the fault must stay within
	// latencyFactor times the p99 before it, plus latencySlack (a loose
	// bound: the machine is shared with the attack's own clients)
	keepLatency bool
	// apiLinks of the links (the last codes) are created through the API
	// after the others are seeded, so the edges follow the change stream
	apiLinks int
}

const (
	latencyFactor = 4
	latencySlack  = 20 // ms
)

// result is one scenario's line of the report.
type result struct {
	Name          string  `json:"name"`
	Rate          float64 `json:"rate"`
	DurationS     float64 `json:"duration_s"`
	Fault         string  `json:"fault"`
	KnownRequests int64   `json:"known_requests"`
	KnownErrors   int64   `json:"known_errors"`
	// WarmupErrors are errors of the warm-up phase, not judged.
	WarmupErrors int64 `json:"warmup_errors"`
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
	UnknownRequests int64 `json:"unknown_requests,omitempty"`
	UnknownErrors   int64 `json:"unknown_errors,omitempty"`
	// RedisLookupsPerUnknown is the link lookups (HGET) per unknown-code
	// request; Extra has every command's calls above the baseline rate.
	RedisLookupsPerUnknown *float64       `json:"redis_lookups_per_unknown_request,omitempty"`
	Extra                  map[string]any `json:"extra,omitempty"`
	Pass                   bool           `json:"pass"`
	Reasons                []string       `json:"reasons,omitempty"`

	faultedEdge int
	// crashAt is when the faulted edge was SIGKILLed: the events it held
	// in memory (answered in about the last second) may be lost.
	crashAt time.Time
	// EventsLossBound is that bound: the redirects the killed edge answered
	// in the second of the kill and the one before; 0 for other scenarios.
	EventsLossBound int64 `json:"events_loss_bound,omitempty"`
	// cut is what spool-truncated cut off a spool segment: its events are
	// lost, exactly, and its bytes left in the file reported as damaged.
	cut *spoolCut
	mu  sync.Mutex
}

// cutEventCount is the events spool-truncated cut off, 0 elsewhere.
func (r *result) cutEventCount() int64 {
	if r.cut == nil {
		return 0
	}
	return r.cut.events
}

func (r *result) fail(format string, args ...any) {
	r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
}

// The load's phases.
const (
	phWarmup = iota
	phBefore
	phDuring
	phAfter
)

var phaseNames = []string{"warmup", "before", "during", "after"}

// loadCfg is the steady load on one edge: half the rate, known codes only.
func loadCfg(o *opts, target string, d time.Duration, seed uint64) loadtest.Config {
	cfg := loadtest.DefaultConfig()
	cfg.Target = target
	cfg.Codes = loadtest.Codes("c", o.links)
	cfg.Dist = loadtest.DistUniform
	cfg.Schedule = loadtest.Constant(o.rate/2, d)
	cfg.Seed = seed
	// The defaults (5 s timeout and backlog): a stall of the shared machine
	// shows in the latency, not as requests never sent.
	return cfg
}

// forScenario is o with the scenario's own fault phase, if it has one.
func (o opts) forScenario(sc scenario) opts {
	if sc.during > 0 {
		o.during = sc.during
	}
	return o
}

// runScenario starts a fresh stack, runs the load in four phases (warm-up,
// before, during, after) with the fault at the start of "during", and
// checks the invariants. o is already forScenario(sc).
func runScenario(ctx context.Context, o *opts, sc scenario) (res *result) {
	res = &result{Name: sc.name, Rate: o.rate, DurationS: (o.warmup + o.before + o.during + o.after).Seconds(), faultedEdge: -1, Extra: map[string]any{}}
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
		if o.keep || len(res.Reasons) > 0 && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "chaos: %s: logs kept in %s\n", sc.name, dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	if err != nil {
		res.fail("setup: %v", err)
		return res
	}
	if err := s.seed(o.links - sc.apiLinks); err != nil {
		res.fail("setup: %v", err)
		return res
	}
	for i := o.links - sc.apiLinks + 1; i <= o.links; i++ {
		code := "c" + strconv.Itoa(i)
		if err := s.apiSend("POST", "/api/v1/links", `{"code":"`+code+`","destination":"https://example.com/`+code+`","tags":["api"]}`, 201); err != nil {
			res.fail("setup: %v", err)
			return res
		}
	}
	s.spoolMax = sc.spoolMax
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

	// The phases: a warm-up (its scans are counted, its errors reported
	// apart: connections are being opened and the machine is shared), then
	// before, during (the fault starts with it) and after.
	var known [4][2]*loadtest.Report // phase × edge
	phases := []time.Duration{o.warmup, o.before, o.during, o.after}
	var stormRep *loadtest.Report
	var callsStart, callsBefore, callsAfter map[string]int64
	for ph, d := range phases {
		if ph == phBefore && sc.storm {
			callsStart, _ = s.redisCalls()
		}
		var wg sync.WaitGroup
		for e := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := loadtest.Run(ctx, loadCfg(o, s.edgeURL(e), d, uint64(ph*2+e+1)), nil)
				if err != nil {
					res.mu.Lock()
					res.fail("load %s edge %d: %v", phaseNames[ph], e, err)
					res.mu.Unlock()
				}
				known[ph][e] = rep
			}()
		}
		if ph == phDuring {
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
		if ph == phDuring && sc.storm {
			callsAfter, _ = s.redisCalls()
		}
		if ctx.Err() != nil {
			res.fail("interrupted")
			return res
		}
	}

	// Errors and latency.
	kinds := map[string]int64{}
	for ph := range phases {
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
			expected := ph == phDuring && e == res.faultedEdge
			for k, n := range t.ErrorKinds {
				// A load balancer sends nothing to an edge that is down or
				// not ready: refused connections and 503 until /readyz.
				if expected && (k == loadtest.KindConnection || k == "status_503") {
					res.ExpectedErrors += n
					continue
				}
				kinds[fmt.Sprintf("%s/edge%d/%s", k, e, phaseNames[ph])] += n
				if ph == phWarmup {
					res.WarmupErrors += n
					continue
				}
				res.KnownErrors += n
			}
		}
		var svc, delay int64
		for e := range 2 {
			if rep := known[ph][e]; rep != nil {
				svc = max(svc, rep.Total.Service.P99)
				delay = max(delay, rep.Total.SendDelay.P99)
			}
		}
		res.Extra[phaseNames[ph]+"_service_p99_ms"] = float64(svc) / 1e3
		res.Extra[phaseNames[ph]+"_send_delay_p99_ms"] = float64(delay) / 1e3
		ms := float64(p99) / 1e3
		switch ph {
		case phBefore:
			res.P99BeforeMs = ms
		case phDuring:
			res.P99DuringMs = ms
		case phAfter:
			res.P99AfterMs = ms
		}
	}
	if len(kinds) > 0 {
		res.ErrorKinds = kinds
	}
	if res.KnownErrors != 0 {
		res.fail("%d errors for known codes", res.KnownErrors)
	}
	if sc.keepLatency && res.P99DuringMs > latencyFactor*res.P99BeforeMs+latencySlack {
		res.fail("known codes' p99 rose from %.1f ms before to %.1f ms during the fault (bound %d × before + %d ms)", res.P99BeforeMs, res.P99DuringMs, latencyFactor, latencySlack)
	}
	if stormRep != nil {
		res.UnknownRequests = stormRep.Total.Intended
		res.UnknownErrors = stormRep.Total.Errors
		if res.UnknownErrors != 0 {
			res.fail("%d unknown-code requests did not get 404: %v", res.UnknownErrors, stormRep.Total.ErrorKinds)
		}
		// Commands per second without the storm (the before phase: the
		// consumer's writes, the edges' change-stream reads) and with it;
		// the difference over the storm's requests is what they cost.
		var base, during int64
		for k, v := range callsBefore {
			base += v - callsStart[k]
		}
		for k, v := range callsAfter {
			during += v - callsBefore[k]
		}
		baseRate := float64(base) / o.before.Seconds()
		duringRate := float64(during) / o.during.Seconds()
		res.Extra["redis_calls_per_s_before"] = math.Round(baseRate)
		res.Extra["redis_calls_per_s_during_storm_phase"] = math.Round(duringRate)
		up := map[string]int64{}
		for k, v := range callsAfter {
			extra := float64(v-callsBefore[k]) - float64(callsBefore[k]-callsStart[k])/o.before.Seconds()*o.during.Seconds()
			if extra > 0.05*float64(stormRep.Total.Intended) {
				up[k] = int64(extra)
			}
		}
		res.Extra["redis_commands_above_baseline"] = up
		type cmdRate struct {
			Cmd  string  `json:"cmd"`
			PerS float64 `json:"per_s"`
		}
		var top []cmdRate
		for k, v := range callsBefore {
			top = append(top, cmdRate{k, math.Round(float64(v-callsStart[k]) / o.before.Seconds())})
		}
		sort.Slice(top, func(i, j int) bool { return top[i].PerS > top[j].PerS })
		res.Extra["redis_top_commands_before"] = top[:min(len(top), 6)]
		res.Extra["redis_hget_calls_during_storm_phase"] = callsAfter["hget"] - callsBefore["hget"]
		if res.UnknownRequests > 0 {
			res.Extra["redis_all_calls_above_baseline_per_unknown_request"] = math.Round(max(duringRate-baseRate, 0)*o.during.Seconds()/float64(res.UnknownRequests)*1000) / 1000
			hget := callsAfter["hget"] - callsBefore["hget"]
			per := float64(hget) / float64(res.UnknownRequests)
			res.RedisLookupsPerUnknown = &per
			if per > 0.01 {
				res.fail("%d Redis link lookups (HGET) for %d unknown requests, want ~0", hget, res.UnknownRequests)
			}
		}
		res.Extra["storm_p99_ms"] = float64(stormRep.Total.Latency.P99) / 1e3
	}

	// Events and links.
	t := time.Now()
	counted, err := s.waitCounted(ctx, res.EventsSent)
	res.Extra["catch_up_s"] = math.Round(time.Since(t).Seconds()*10) / 10
	if err != nil {
		res.fail("events counted: %v", err)
	}
	// Then the edges' spools must drain and the consumer go idle: the
	// totals can reach the scans sent before the replay of a spool is
	// over (a Kafka write that timed out for the edge may still have
	// reached the broker, and its spooled copy comes after it); that
	// replay must add nothing. The totals are read again after it.
	t = time.Now()
	if err := waitUntil(ctx, 180*time.Second, "the edges' spools to drain", s.spoolsEmpty); err != nil {
		res.fail("%v", err)
	}
	if err := s.settle(ctx); err != nil {
		res.fail("%v", err)
	}
	res.Extra["drain_and_settle_s"] = math.Round(time.Since(t).Seconds()*10) / 10
	if again, err := s.scansCounted(); err != nil {
		res.fail("events counted after the drain: %v", err)
	} else {
		counted = again
	}
	res.EventsCounted = counted
	for k, v := range s.analyticsEvents() {
		res.Extra[k] = v // analytics_events:applied, :duplicate, :poison
	}
	ev := s.edgeEvents()
	for k, v := range ev {
		res.Extra["edge_"+k] = v
	}
	if sc.spool && (ev["events:spooled"] == 0 || ev["events:replayed"] < ev["events:spooled"]-float64(res.cutEventCount())) {
		res.fail("edges spooled %.0f events and replayed %.0f: want some, all replayed", ev["events:spooled"], ev["events:replayed"])
	}
	dropped := int64(ev["events_dropped:queue_full"] + ev["events_dropped:spool_full"])
	switch {
	case sc.spoolMax > 0 && ev["events_dropped:spool_full"] == 0:
		res.fail("the spool cap of %d bytes was never reached: nothing dropped", sc.spoolMax)
	case sc.spoolMax > 0:
		// Dropping beyond the cap is the design; every drop is counted.
		res.EventsLossBound = dropped
		res.Extra["events_dropped_by_cap"] = dropped
	case dropped > 0:
		res.fail("edges dropped %d events", dropped)
	}
	res.EventsLossBound += res.cutEventCount()
	res.EventsLost = res.EventsSent - counted
	if rep := known[phDuring][0]; !res.crashAt.IsZero() && rep != nil {
		k := int(res.crashAt.Sub(rep.Start) / time.Second)
		for i := range rep.Seconds {
			if row := &rep.Seconds[i]; row.Second == k || row.Second == k-1 {
				res.EventsLossBound += redirects(&row.Counts)
			}
		}
	}
	switch {
	case counted > res.EventsSent:
		res.fail("analytics counted %d scans, only %d were answered with a redirect", counted, res.EventsSent)
	case res.EventsLost > res.EventsLossBound:
		res.fail("analytics counted %d scans, %d were answered with a redirect", counted, res.EventsSent)
	case sc.spoolMax > 0 && res.EventsLost != dropped:
		res.fail("analytics missed %d scans, the edges counted %d dropped: every loss must be a counted drop", res.EventsLost, dropped)
	case res.cut != nil && res.EventsLost != res.cut.events:
		res.fail("analytics missed %d scans, the spool records cut off held %d: every other event must be replayed", res.EventsLost, res.cut.events)
	}
	if res.cut != nil {
		if got := ev["spool_corrupt_bytes"]; int64(got) != res.cut.bytesLeft {
			res.fail("edges report %.0f damaged spool bytes discarded, the cut left %d", got, res.cut.bytesLeft)
		}
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
	sum.Total.Latency.P99 = max(sum.Total.Latency.P99, reps[1].Total.Latency.P99)
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
