package localagg

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/spool"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

// The child modes of the SIGKILL tests: QREDGE_LOCALAGG_CHILD is
// "aggregate <dir>" (count a spool written before) or "write <dir>
// <round>" (run the pipeline and the aggregator, and write events).
func TestMain(m *testing.M) {
	if args := strings.Fields(os.Getenv("QREDGE_LOCALAGG_CHILD")); len(args) > 0 {
		child(args)
		return
	}
	os.Exit(m.Run())
}

// childConfig applies one spool record per transaction, so that counting
// is slow enough to be killed in the middle.
func childConfig() Config {
	cfg := testConfig()
	cfg.BatchEvents = 1
	cfg.FlushEvents = 1 // a transaction per record, to be killed in
	return cfg
}

func child(args []string) {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	dir := args[1]
	db, err := bolt.Open(filepath.Join(dir, "qredge.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	m := aggregate.NewMetrics()
	var sp *spool.Spool
	var p *analytics.Pipeline
	if args[0] == "write" {
		pc := analytics.DefaultConfig()
		pc.SpoolDir = filepath.Join(dir, "spool")
		pc.SegmentBytes = 32 << 10
		pc.BatchSize = 50
		pc.Linger = 2 * time.Millisecond
		if p, err = analytics.Start(pc, nil, quietLog()); err != nil {
			fail(err)
		}
		sp = p.Spool()
	} else if sp, err = spool.Open(filepath.Join(dir, "spool"), 1<<30, 32<<10); err != nil {
		fail(err)
	}
	cfg := childConfig()
	if args[0] == "aggregate-pending" {
		// Many events counted in memory between writes: a kill loses
		// them, and they must be counted again from the spool.
		cfg.FlushEvents, cfg.FlushInterval = 60, 50*time.Millisecond
	}
	a, err := Open(db, sp, cfg, m, nil, quietLog())
	if err != nil {
		fail(err)
	}
	a.Start()
	progress := func() string {
		s := fmt.Sprintf("applied %d lag %d", int(testutil.ToFloat64(m.Applied)), int(testutil.ToFloat64(m.LagBytes)))
		if p != nil {
			s += fmt.Sprintf(" spooled %d", p.Stats().Spooled.Load())
		}
		return s
	}
	if p == nil {
		for last := ""; ; time.Sleep(time.Millisecond) {
			if s := progress(); s != last {
				fmt.Println(s)
				last = s
			}
		}
	}
	// Events of round r are links "r<r>-<i>", i from 0: the pipeline
	// spools them in order, so the ones that reached the spool are a
	// prefix, at least as long as the last "spooled" reported.
	round := args[2]
	for i := 0; ; i++ {
		e := analytics.Event{Time: base.Add(time.Duration(i) * time.Millisecond).UnixNano(),
			Key: store.LinkKey("", "r"+round+"-"+strconv.Itoa(i)), Version: 1, Status: 302, Rule: -1, Target: analytics.TargetDestination}
		for !p.Queue().Enqueue(&e) {
			time.Sleep(time.Millisecond)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
			fmt.Println(progress())
		}
	}
}

// childProc is a running child and its progress lines.
type childProc struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, args ...string) *childProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "QREDGE_LOCALAGG_CHILD="+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childProc{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// progress is a child's last progress line.
type progress struct{ applied, lag, spooled int }

func parseProgress(t *testing.T, line string) progress {
	if strings.HasPrefix(line, "error") {
		t.Fatal("child: " + line)
	}
	var p progress
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i += 2 {
		v, _ := strconv.Atoi(f[i+1])
		switch f[i] {
		case "applied":
			p.applied = v
		case "lag":
			p.lag = v
		case "spooled":
			p.spooled = v
		}
	}
	return p
}

// waitFor reads progress lines until ok, and returns the last one.
func (c *childProc) waitFor(t *testing.T, ok func(progress) bool) progress {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, open := <-c.lines:
			if !open {
				t.Fatal("child exited")
			}
			if p := parseProgress(t, line); ok(p) {
				return p
			}
		case <-timeout:
			t.Fatal("child made no progress")
		}
	}
}

// kill sends SIGKILL and returns the last progress the child printed.
func (c *childProc) kill(t *testing.T, last progress) progress {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	for line := range c.lines {
		if strings.HasPrefix(line, "applied") {
			last = parseProgress(t, line)
		}
	}
	return last
}

// catchUp counts what is left in dir's spool in this process and returns
// the aggregator, stopped.
func catchUp(t *testing.T, dir string) *env {
	e := mustOpen(t, dir, testConfig(), 32<<10)
	e.a.Start()
	testwait.For(t, 20*time.Second, "no lag after the restart", func() bool { return e.lag() == 0 })
	e.a.Close()
	return e
}

// TestSIGKILLWhileAggregating kills the aggregator with SIGKILL at random
// points while it counts a spool, at least 10 times, restarting it each
// time; at the end every number is exact.
func TestSIGKILLWhileAggregating(t *testing.T) {
	const n = 12000
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool"), 1<<30, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	span := 30 * time.Hour
	evs := genEvents(n, 10, span)
	appendRecords(t, sp, encodeEvents(evs), 15)
	sp.Close()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	kills, rounds, total := 0, 0, 0
	for ; kills < 10 && rounds < 40; rounds++ {
		mode := "aggregate"
		if rounds%2 == 1 {
			mode = "aggregate-pending"
		}
		c := startChild(t, mode, dir)
		last := c.waitFor(t, func(p progress) bool { return p.applied > 0 })
		time.Sleep(time.Duration(r.IntN(60000)) * time.Microsecond)
		last = c.kill(t, last)
		total += last.applied
		if last.lag > 0 {
			kills++
		}
	}
	if kills < 10 {
		t.Fatalf("only %d of %d kills happened while counting", kills, rounds)
	}
	e := catchUp(t, dir)
	t.Logf("%d kills in the middle of counting (%d rounds), %d events reported applied before the kills, %d after the last restart",
		kills, rounds, total, e.applied())
	if total >= n {
		t.Fatalf("the children counted %d events of %d: not killed in the middle", total, n)
	}
	checkStats(t, e.a, evs, span)
	if segs, _ := e.sp.Segments(); len(segs) != 1 {
		t.Fatalf("%d segments left", len(segs))
	}
}

// TestSIGKILLWhileWriting kills a process that runs the pipeline and the
// aggregator together while it writes events, 10 times. Every event that
// reached the spool is counted exactly once.
func TestSIGKILLWhileWriting(t *testing.T) {
	const rounds = 10
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	reported := make([]int, rounds)
	lagging := 0
	for round := range rounds {
		c := startChild(t, "write", dir, strconv.Itoa(round))
		last := c.waitFor(t, func(p progress) bool { return p.spooled >= 300 && p.applied > 0 })
		time.Sleep(time.Duration(r.IntN(30000)) * time.Microsecond)
		last = c.kill(t, last)
		reported[round] = last.spooled
		if last.lag > 0 {
			lagging++
		}
	}
	e := catchUp(t, dir)
	top, err := e.a.Top(context.Background(), store.StatsQuery{From: base, To: base.Add(24 * time.Hour), Granularity: store.Day})
	if err != nil {
		t.Fatal(err)
	}
	// Per round, the counted events must be exactly 0..C-1, once each,
	// with C at least what the child saw spooled.
	counted := make([]map[int]int64, rounds)
	for i := range counted {
		counted[i] = map[int]int64{}
	}
	for _, l := range top.Links {
		var round, i int
		if _, err := fmt.Sscanf(l.Code, "r%d-%d", &round, &i); err != nil || round >= rounds {
			t.Fatalf("unexpected link %q", l.Code)
		}
		counted[round][i] += l.Total
	}
	sum := 0
	for round, m := range counted {
		for i := range len(m) {
			if m[i] != 1 {
				t.Fatalf("round %d: event %d counted %d times (%d events counted)", round, i, m[i], len(m))
			}
		}
		if len(m) < reported[round] {
			t.Fatalf("round %d: %d events counted, the child had spooled %d", round, len(m), reported[round])
		}
		sum += len(m)
	}
	st, err := e.a.LinkStats(context.Background(), store.StatsQuery{Code: "r0-0", From: base, To: base.Add(time.Hour), Granularity: store.Minute})
	if err != nil || st.Total != 1 {
		t.Fatalf("r0-0: %d, %v", st.Total, err)
	}
	t.Logf("%d kills while writing (%d with counting behind), %d events counted once each (children reported %v spooled)",
		rounds, lagging, sum, reported)
}
