// Command chaos is qredge's fault suite (make chaos): for each scenario it
// starts a fresh stack of real processes on 127.0.0.1 (redis-server, a
// kfake broker, two qredge edges with Kafka and a spool, qredge analytics
// and qredge api), seeds links, runs a steady open-loop load on both edges
// in three phases (before, during, after) with a fault injected at the
// start of the second (after a short warm-up), and checks the invariants: no error for a known
// code, the analytics total equal to the redirects answered, every link
// still there. It writes a JSON report and a table, and exits 1 if an
// invariant fails. It kills every process it started on exit and never
// touches anything it did not start.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	os.Exit(run())
}

func run() int {
	var o opts
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	list := flag.String("scenarios", strings.Join(names, ","), "comma-separated scenarios to run: "+strings.Join(names, ", "))
	out := flag.String("report", "chaos-report.json", "JSON report file")
	flag.IntVar(&o.links, "links", 1000, "links to seed (at most 1000: the analytics total is read from the top-1000 endpoint)")
	flag.Float64Var(&o.rate, "rate", 1500, "steady load in requests/s, split over the two edges")
	flag.DurationVar(&o.warmup, "warmup", 3*time.Second, "load before the measured phases (its scans are counted, its errors reported apart)")
	flag.DurationVar(&o.before, "before", 6*time.Second, "load before the fault")
	flag.DurationVar(&o.during, "during", 16*time.Second, "load while the fault happens (the fault starts with it); kafka-stop, spool-full, kafka-slow and spool-truncated have their own")
	flag.DurationVar(&o.after, "after", 6*time.Second, "load after the fault")
	flag.StringVar(&o.qredge, "qredge", "", "qredge binary (default: built from ./cmd/qredge)")
	flag.BoolVar(&o.keep, "keep", false, "keep each scenario's directory (process logs)")
	flag.Parse()
	if o.links < 1 || o.links > 1000 {
		fmt.Fprintln(os.Stderr, "chaos: -links must be 1..1000")
		return 2
	}
	var run []scenario
	for _, n := range strings.Split(*list, ",") {
		found := false
		for _, sc := range scenarios {
			if sc.name == strings.TrimSpace(n) {
				run, found = append(run, sc), true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "chaos: unknown scenario %q (have %s)\n", n, strings.Join(names, ", "))
			return 2
		}
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: redis-server is missing (apt-get install redis-server)")
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	defer killAll()

	work, err := os.MkdirTemp("", "qredge-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(work)
	o.workDir = work
	o.kfake = filepath.Join(work, "kfakeserver")
	builds := [][]string{{o.kfake, "./loadtest/kfakeserver"}}
	if o.qredge == "" {
		o.qredge = filepath.Join(work, "qredge")
		builds = append(builds, []string{o.qredge, "./cmd/qredge"})
	}
	for _, b := range builds {
		fmt.Fprintf(os.Stderr, "chaos: building %s\n", b[1])
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: cannot build %s: %v\n%s", b[1], err, out)
			return 1
		}
	}

	var results []*result
	failed := false
	for _, sc := range run {
		so := o.forScenario(sc)
		fmt.Fprintf(os.Stderr, "chaos: %s: %.0f req/s for %s\n", sc.name, so.rate, so.warmup+so.before+so.during+so.after)
		r := runScenario(ctx, &so, sc)
		results = append(results, r)
		if !r.Pass {
			failed = true
		}
		fmt.Fprintf(os.Stderr, "chaos: %s: pass=%v %s\n", r.Name, r.Pass, strings.Join(r.Reasons, "; "))
		if ctx.Err() != nil {
			break
		}
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		failed = true
	}
	table(os.Stdout, results)
	if failed {
		return 1
	}
	return 0
}

func table(w *os.File, rs []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tknown reqs\terrors\twarm-up errs\texpected errs\tevents sent\tcounted\tlost\tlinks before\tafter\tp99 before ms\tduring ms\tafter ms\tresult\t")
	for _, r := range rs {
		res := "PASS"
		if !r.Pass {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%s\t\n", r.Name, r.Rate, r.KnownRequests,
			r.KnownErrors, r.WarmupErrors, r.ExpectedErrors, r.EventsSent, r.EventsCounted, r.EventsLost, r.LinksBefore, r.LinksAfter,
			r.P99BeforeMs, r.P99DuringMs, r.P99AfterMs, res)
	}
	tw.Flush()
	for _, r := range rs {
		for _, why := range r.Reasons {
			fmt.Fprintf(w, "%s: %s\n", r.Name, why)
		}
	}
}
