package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qredge/qredge/analytics/spool"
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
	{name: "kafka-stop", spool: true, during: 130 * time.Second, fault: kafkaStop},
	{name: "redis-empty", apiLinks: 100, fault: redisEmpty},
	{name: "spool-full", spoolMax: 1 << 20, during: 40 * time.Second, fault: spoolFull},
	{name: "kafka-slow", during: 24 * time.Second, fault: kafkaSlow},
	{name: "spool-truncated", spool: true, during: 24 * time.Second, fault: spoolTruncated},
	{name: "slow-clients", keepLatency: true, fault: slowAbuse},
}

// analyticsSIGKILL kills the consumer 3 times during the phase, restarting
// it 1 s after each kill. Each kill waits until the running consumer has
// been assigned partitions (its "partitions assigned" log line): kfake
// never expires a group member whose JoinGroup answer could not be
// delivered because it died while waiting in the join (its session timer
// starts only on a delivered answer, and the pending-sync timer is
// cancelled when the leader syncs), so such a member keeps its share of
// the partitions for good, which a real broker does not do (it schedules
// every member's session expiry when the join completes). A kill in the
// middle of a join is therefore not part of this scenario.
func analyticsSIGKILL(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "qredge analytics SIGKILLed 3 times under load (each time once it held partitions), restarted 1 s after each kill"
	gap := o.during / 4
	assigned := 0
	var waits []float64
	for i := range 3 {
		if err := sleep(ctx, gap); err != nil {
			return err
		}
		t := time.Now()
		if err := waitUntil(ctx, 60*time.Second, "the consumer to be assigned partitions", func() bool {
			return s.analyticsAssignments() > assigned
		}); err != nil {
			return err
		}
		waits = append(waits, time.Since(t).Seconds())
		assigned = s.analyticsAssignments()
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
	r.Extra["assignment_waits_s"] = waits
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
	took, err := stopEdge(s, sig)
	if err != nil {
		return err
	}
	if sig == syscall.SIGTERM {
		r.Extra["edge_shutdown_s"] = took.Seconds()
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

// stopEdge sends sig to edge 0 and waits at most 30 s for it to exit; it
// returns how long the exit took.
func stopEdge(s *stack, sig syscall.Signal) (time.Duration, error) {
	t := time.Now()
	if err := s.edges[0].signal(sig); err != nil {
		return 0, err
	}
	select {
	case <-s.edges[0].done:
		return time.Since(t), nil
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("edge 0 did not exit within 30 s of %v", sig)
	}
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

// kafkaStop pauses the broker process (SIGSTOP) for two minutes of its
// 130 s fault phase, a stalled broker: edges must spool and replay.
func kafkaStop(ctx context.Context, s *stack, o *opts, r *result) error {
	stall := o.during - 10*time.Second
	r.Fault = fmt.Sprintf("kfakeserver SIGSTOPped for %s under load (a stalled broker), then SIGCONT", stall)
	return stallBroker(ctx, s, 2*time.Second, stall)
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
// The last 100 links were created through the API, so the edges follow
// the change stream and see the loss as a gap: they must keep every link
// they hold and serve it (a reload would empty them), and the API must
// refuse writes (503). The operator then restores the dataset from a
// running edge's table (qredge links export --from-edge, qredge links
// import --restore), and the dataset must equal what it was before the
// fault, versions and times included. The analytics consumer finds no
// offsets and re-reads the topic from the start, so the counts come back
// exact as long as Kafka still holds the events.
func redisEmpty(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "redis-server SIGKILLed and replaced by an empty one on the same port after 2 s (100 of the links created through the API); the dataset restored 5 s later from edge 0's table with qredge links export --from-edge and qredge links import --restore"
	before := filepath.Join(s.dir, "links-before.jsonl")
	if out, err := exec.CommandContext(ctx, s.qredge, "links", "export", "--api", s.apiURL(), "--api-key", s.apiKey, "--output", before).CombinedOutput(); err != nil {
		return fmt.Errorf("export before the fault: %v: %s", err, out)
	}
	if err := bounceRedis(ctx, s, o.during/4, 2*time.Second); err != nil { // no append-only file: empty
		return err
	}
	if err := waitUntil(ctx, 30*time.Second, "the edges to see the lost dataset", func() bool {
		for i := range s.edges {
			if !strings.Contains(getBody(s.readyz(s.edgeAdmin[i])), "looks lost") {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	if err := s.apiSend("POST", "/api/v1/links", `{"code":"during-loss","destination":"https://example.com/x"}`, 503); err != nil {
		return fmt.Errorf("a write to the lost dataset: %w", err)
	}
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	t := time.Now()
	fromEdge := filepath.Join(s.dir, "links-edge0.jsonl")
	if out, err := exec.CommandContext(ctx, s.qredge, "links", "export", "--from-edge", "http://127.0.0.1:"+strconv.Itoa(s.edgeAdmin[0]), "--output", fromEdge).CombinedOutput(); err != nil {
		return fmt.Errorf("export from the edge: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, s.qredge, "links", "import", fromEdge, "--redis", s.redisAddr(), "--restore").CombinedOutput(); err != nil {
		return fmt.Errorf("restore with links import --restore: %v: %s", err, out)
	}
	r.Extra["restore_s"] = time.Since(t).Seconds()
	after := filepath.Join(s.dir, "links-after.jsonl")
	if out, err := exec.CommandContext(ctx, s.qredge, "links", "export", "--api", s.apiURL(), "--api-key", s.apiKey, "--output", after).CombinedOutput(); err != nil {
		return fmt.Errorf("export after the restore: %v: %s", err, out)
	}
	n, err := sameLinks(before, after)
	if err != nil {
		return fmt.Errorf("the restored dataset: %w", err)
	}
	r.Extra["links_restored_equal"] = float64(n)
	// Writes work again (the link goes again, so the count of links holds).
	if err := s.apiSend("POST", "/api/v1/links", `{"code":"after-restore","destination":"https://example.com/x"}`, 201); err != nil {
		return err
	}
	return s.apiSend("DELETE", "/api/v1/links/after-restore", "", 204)
}

// sameLinks compares two JSON-lines exports link by link (every field) and
// returns how many links they hold.
func sameLinks(a, b string) (int, error) {
	read := func(name string) (map[string]string, error) {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var l struct {
				Code   string `json:"code"`
				Domain string `json:"domain"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			m[l.Code+"\x00"+l.Domain] = line
		}
		return m, nil
	}
	ma, err := read(a)
	if err != nil {
		return 0, err
	}
	mb, err := read(b)
	if err != nil {
		return 0, err
	}
	if len(ma) != len(mb) {
		return 0, fmt.Errorf("%d links before, %d after", len(ma), len(mb))
	}
	for k, la := range ma {
		if mb[k] != la {
			return 0, fmt.Errorf("link %q differs:\n  before %s\n  after  %s", strings.Split(k, "\x00")[0], la, mb[k])
		}
	}
	return len(ma), nil
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

// kafkaSlow makes the broker slow rather than stalled (kfakeserver's
// control hook, SIGUSR1): for 8 s every Produce request is held 500 ms,
// then for 8 s it is held 6 s, longer than the edges' Kafka write timeout
// (5 s), so their writes fail and go to the spool while the broker still
// appends them later: the analytics must drop those duplicates. Then the
// broker is fast again.
func kafkaSlow(ctx context.Context, s *stack, o *opts, r *result) error {
	step := (o.during - 8*time.Second) / 2
	r.Fault = fmt.Sprintf("kfakeserver slowed under load by a control hook: each Produce request held 500 ms for %s, then 6 s (beyond the 5 s write timeout) for %s", step, step)
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	for range 2 {
		if err := s.kafka.signal(syscall.SIGUSR1); err != nil {
			return err
		}
		if err := sleep(ctx, step); err != nil {
			_ = s.kafka.signal(syscall.SIGUSR2)
			return err
		}
	}
	return s.kafka.signal(syscall.SIGUSR2)
}

// spoolTruncated damages a spool segment the way a power loss or a bad
// disk would: the broker stalls so that the edges spool, edge 0 is stopped
// (SIGTERM: its queue goes to the spool), its newest segment is cut in the
// middle of a record (the one at its middle byte; the records after it go
// with the cut), and edge 0 starts again on that spool; then the broker
// comes back. The edge must replay every intact record before the cut,
// count the damaged bytes, and go on: the events lost are exactly those of
// the records cut off.
func spoolTruncated(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = "kfakeserver SIGSTOPped; after 8 s edge 0 SIGTERMed, its newest spool segment cut in the middle of the record at its middle byte, edge 0 restarted on it; broker SIGCONTed 4 s later"
	r.faultedEdge = 0
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	if err := s.kafka.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	defer s.kafka.signal(syscall.SIGCONT)
	if err := sleep(ctx, 8*time.Second); err != nil {
		return err
	}
	took, err := stopEdge(s, syscall.SIGTERM)
	if err != nil {
		return err
	}
	r.Extra["edge_shutdown_s"] = took.Seconds()
	cut, err := truncateSpool(filepath.Join(s.dir, "spool0"))
	if err != nil {
		return err
	}
	r.Extra["cut_segment"] = cut.segment
	r.Extra["cut_records"] = cut.records
	r.Extra["cut_events"] = cut.events
	r.Extra["cut_bytes_left"] = cut.bytesLeft
	r.cut = &cut
	if err := s.startEdge(ctx, 0); err != nil {
		return err
	}
	if err := sleep(ctx, 4*time.Second); err != nil {
		return err
	}
	if err := s.kafka.signal(syscall.SIGCONT); err != nil {
		return err
	}
	// The edge replays its spool now; the loss and the corrupt bytes it
	// reports are checked against the cut once the counts are in.
	return nil
}

type spoolCut struct {
	segment   string
	records   int   // records lost: the cut one and those after it
	events    int64 // their events
	bytesLeft int64 // bytes of the cut record left in the file
}

// truncateSpool cuts the newest segment of the spool in dir (its edge
// stopped) in the middle of the record that holds the segment's middle
// byte: that record and every one after it are lost, the ones before must
// be replayed.
func truncateSpool(dir string) (spoolCut, error) {
	sp, err := spool.Open(dir, 1<<30, 16<<20) // creates nothing until an Append
	if err != nil {
		return spoolCut{}, err
	}
	segs, err := sp.Segments()
	if err != nil || len(segs) == 0 {
		sp.Close()
		return spoolCut{}, fmt.Errorf("no spool segment in %s (%v): the edge spooled nothing", dir, err)
	}
	name := segs[len(segs)-1].Name
	recs, err := sp.ReadRecords(name, 0, math.MaxInt64)
	sp.Close()
	if err != nil {
		return spoolCut{}, err
	}
	if len(recs.Batches) == 0 || recs.Bad > 0 {
		return spoolCut{}, fmt.Errorf("%s: %d records, %d damaged bytes: want a whole segment", name, len(recs.Batches), recs.Bad)
	}
	i := sort.Search(len(recs.Ends), func(i int) bool { return recs.Ends[i] > recs.Size/2 })
	start := int64(0)
	if i > 0 {
		start = recs.Ends[i-1]
	}
	cut := spoolCut{segment: name, records: len(recs.Batches) - i, bytesLeft: 8 + (recs.Ends[i]-start-8)/2} // its header and half its payload
	for _, b := range recs.Batches[i:] {
		cut.events += int64(len(b))
	}
	return cut, os.Truncate(filepath.Join(dir, name), start+cut.bytesLeft)
}
