package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// scenarios in the order they run.
var scenarios = []scenario{
	{name: "analytics-sigkill", fault: analyticsSIGKILL},
	{name: "edge-sigkill", fault: edgeSIGKILL},
	{name: "redis-restart", aof: true, fault: redisRestart},
	{name: "unknown-storm", storm: true, fault: func(ctx context.Context, s *stack, o *opts, r *result) error {
		r.Fault = "20,000 requests for random unknown codes in 4 s (5,000/s over both edges) on top of the steady load"
		return nil
	}},
	{name: "sigterm", fault: edgeSIGTERM},
	{name: "kafka-stop", spool: true, fault: kafkaStop},
	{name: "redis-empty", fault: redisEmpty},
	{name: "spool-full", spoolMax: 1 << 20, during: 40 * time.Second, fault: spoolFull},
}

// analyticsSIGKILL kills the consumer 3 times during the phase, restarting
// it 1 s after each kill.
func analyticsSIGKILL(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "qredge analytics SIGKILLed 3 times under load, restarted 1 s after each kill"
	gap := o.during / 4
	for i := range 3 {
		if err := sleep(ctx, gap); err != nil {
			return err
		}
		if err := s.analytics.signal(syscall.SIGKILL); err != nil {
			return err
		}
		<-s.analytics.done
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		if err := s.startAnalytics(ctx); err != nil {
			return fmt.Errorf("restart %d: %w", i+1, err)
		}
	}
	return nil
}

// edgeSIGKILL kills edge 0 under load and restarts it after 2 s; the load
// keeps going to it, and its refused connections and 503s until it is
// ready again are expected (a load balancer would take it out). The events
// it held in memory are lost with it (the spool is only written when Kafka
// is slow): the loss must stay within the redirects it answered in its
// last second.
func edgeSIGKILL(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "edge 0 SIGKILLed under load, restarted after 2 s (same spool dir), ready on /readyz"
	return bounceEdge(ctx, s, o, r, syscall.SIGKILL)
}

// edgeSIGTERM stops edge 0 gracefully under load and restarts it.
func edgeSIGTERM(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "edge 0 SIGTERMed under load (graceful: in-flight requests finish, queued events flushed or spooled), restarted after 2 s"
	return bounceEdge(ctx, s, o, r, syscall.SIGTERM)
}

// bounceEdge sends sig to edge 0 a quarter into the fault phase, waits for
// it to exit (at most 30 s) and starts it again 2 s later, ready on
// /readyz. It reports edge_down_s from the signal to ready, and for a
// SIGTERM edge_shutdown_s, the time the edge took to exit.
func bounceEdge(ctx context.Context, s *stack, o *opts, r *result, sig syscall.Signal) error {
	r.faultedEdge = 0
	if err := sleep(ctx, o.during/4); err != nil {
		return err
	}
	t := time.Now()
	if sig == syscall.SIGKILL {
		r.crashAt = t
	}
	if err := s.edges[0].signal(sig); err != nil {
		return err
	}
	select {
	case <-s.edges[0].done:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("edge 0 did not exit within 30 s of %v", sig)
	}
	if sig == syscall.SIGTERM {
		r.Extra["edge_shutdown_s"] = time.Since(t).Seconds()
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	if err := s.startEdge(ctx, 0); err != nil {
		return err
	}
	r.Extra["edge_down_s"] = time.Since(t).Seconds()
	return nil
}

// redisRestart SIGKILLs redis-server (appendonly, fsync always) and starts
// it again on the same port with the same data 5 s later.
func redisRestart(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "redis-server SIGKILLed under load (appendonly yes, appendfsync always), restarted on the same port after 5 s"
	return bounceRedis(ctx, s, o.during/4, 5*time.Second)
}

// bounceRedis SIGKILLs redis-server after wait and starts it again on the
// same port down later: with its data when the stack's Redis has an
// append-only file, empty when it has not.
func bounceRedis(ctx context.Context, s *stack, wait, down time.Duration) error {
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	if err := s.redis.signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-s.redis.done
	if err := sleep(ctx, down); err != nil {
		return err
	}
	return s.startRedis(ctx)
}

// kafkaStop pauses the broker process (SIGSTOP) for 12 s, a stalled
// broker: edges must spool and replay.
func kafkaStop(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "kfakeserver SIGSTOPped for 12 s under load (a stalled broker), then SIGCONT"
	return stallBroker(ctx, s, o.during/8, 12*time.Second)
}

// stallBroker stops the broker process (SIGSTOP) after wait, and lets it
// go on (SIGCONT) after d: a stalled broker, which keeps what it holds.
func stallBroker(ctx context.Context, s *stack, wait, d time.Duration) error {
	if err := sleep(ctx, wait); err != nil {
		return err
	}
	if err := s.kafka.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	err := sleep(ctx, d)
	if cerr := s.kafka.signal(syscall.SIGCONT); cerr != nil {
		return cerr
	}
	return err
}

// redisEmpty replaces Redis by an empty instance under load: the operator's
// nightmare (a failover to a replica that never synced, or a FLUSHALL).
// Edges must keep every link they hold and serve it; the operator then
// restores the links from an export taken earlier (qredge links export,
// here just before the fault) with qredge links import. The analytics
// consumer finds no offsets and re-reads the topic from the start, so the
// counts come back exact as long as Kafka still holds the events.
func redisEmpty(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "redis-server SIGKILLed and replaced by an empty one on the same port after 2 s; links restored 5 s later from an export with qredge links import"
	export := filepath.Join(s.dir, "links-export.csv")
	out, err := exec.CommandContext(ctx, s.qredge, "links", "export", "--api", s.apiURL(), "--api-key", s.apiKey, "--output", export).CombinedOutput()
	if err != nil {
		return fmt.Errorf("export before the fault: %v: %s", err, out)
	}
	if err := bounceRedis(ctx, s, o.during/4, 2*time.Second); err != nil { // no append-only file: empty
		return err
	}
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	t := time.Now()
	out, err = exec.CommandContext(ctx, s.qredge, "links", "import", export, "--api", s.apiURL(), "--api-key", s.apiKey, "--chunk", "1000").CombinedOutput()
	if err != nil {
		return fmt.Errorf("restore with links import: %v: %s", err, out)
	}
	r.Extra["restore_s"] = time.Since(t).Seconds()
	return nil
}

// spoolFull stalls the broker long enough for the edges' spools, capped at
// 1 MiB (the smallest cap qredge takes), to fill: its fault phase is 40 s,
// the broker stalled for 36 s of it. Scans are still answered, the events
// beyond the cap are dropped and counted, and nothing else is lost.
func spoolFull(ctx context.Context, s *stack, o *opts, r *result) error {
	stall := o.during - 4*time.Second
	r.Fault = fmt.Sprintf("kfakeserver SIGSTOPped for %s under load with the edges' spools capped at 1 MiB, then SIGCONT", stall)
	return stallBroker(ctx, s, 2*time.Second, stall)
}
