package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/loadtest"
)

const loadtestUsage = `Usage:
  qredge loadtest seed (--data-dir DIR | --redis ADDR) [--n 100000] [--prefix c]
  qredge loadtest run --target URL [flags]

Run 'qredge loadtest <command> --help' for the flags.
`

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, loadtestUsage)
		return cli.ErrUsage
	}
	switch args[0] {
	case "seed":
		return runLoadtestSeed(ctx, args[1:], stdout, stderr)
	case "run":
		return runLoadtestRun(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "qredge loadtest: unknown command %q\n\n%s", args[0], loadtestUsage)
	return cli.ErrUsage
}

// runLoadtestRun is 'qredge loadtest run': the open-loop generator.
func runLoadtestRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := loadtest.DefaultConfig()
	fs := cli.NewFlagSet("loadtest run", "qredge loadtest run --target URL [--profile constant|spike|ramp --rate R --duration D | --schedule FILE] [flags]", stderr)
	target := fs.String("target", d.Target, "base URL of the redirect server (127.0.0.1 for benchmarks)")
	host := fs.String("host", "", "Host header to send instead of the target's (a custom domain)")
	profile := fs.String("profile", "constant", "rate profile: constant, spike (idle, then --rate within one second) or ramp (--from-rate to --rate)")
	rate := fs.Float64("rate", 1000, "requests per second (the target of spike and ramp)")
	fromRate := fs.Float64("from-rate", 0, "start rate of ramp")
	duration := fs.Duration("duration", 10*time.Second, "how long the rate (or the ramp) lasts")
	idle := fs.Duration("idle", time.Second, "idle time before a spike")
	schedule := fs.String("schedule", "", "schedule file, one step per line: '10s 1000' or '30s 1000..50000'; replaces --profile")
	prefix := fs.String("codes-prefix", "c", "codes are <prefix>1..<prefix>N, as 'qredge loadtest seed' makes them")
	n := fs.Int("codes", 100000, "how many codes exist")
	dist := fs.String("dist", d.Dist, "code popularity: uniform or zipf")
	zipfS := fs.Float64("zipf-s", d.ZipfS, "Zipf exponent (> 1; larger is more skewed)")
	unknown := fs.Float64("unknown", 0.01, "fraction of requests for codes that do not exist (bots guessing)")
	seed := fs.Uint64("seed", d.Seed, "seed of the request sequence")
	countryHeader := fs.String("country-header", "", "send a country mix in this header, such as CF-IPCountry")
	timeout := fs.Duration("timeout", d.Timeout, "timeout of one request")
	inFlight := fs.Int("max-in-flight", d.MaxInFlight, "most requests in flight (connections)")
	report := fs.String("report", "", "write the JSON report to this file")
	quiet := fs.Bool("quiet", false, "no per-second progress lines")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	cfg := d
	cfg.Target, cfg.Host, cfg.Dist, cfg.ZipfS, cfg.UnknownFraction, cfg.Seed = *target, *host, *dist, *zipfS, *unknown, *seed
	cfg.CountryHeader, cfg.Timeout, cfg.MaxInFlight = *countryHeader, *timeout, *inFlight
	if *n < 1 {
		return errors.New("--codes must be at least 1")
	}
	cfg.Codes = loadtest.Codes(*prefix, *n)
	if *schedule != "" {
		f, err := os.Open(*schedule)
		if err != nil {
			return fmt.Errorf("--schedule: %w", err)
		}
		cfg.Schedule, err = loadtest.ParseSchedule(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("--schedule %s: %w", *schedule, err)
		}
	} else {
		switch *profile {
		case "constant":
			cfg.Schedule = loadtest.Constant(*rate, *duration)
		case "spike":
			cfg.Schedule = loadtest.Spike(*idle, *rate, *duration)
		case "ramp":
			cfg.Schedule = loadtest.Ramp(*fromRate, *rate, *duration)
		default:
			return fmt.Errorf("--profile %q: want constant, spike or ramp", *profile)
		}
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	rep, err := loadtest.Run(ctx, cfg, progress)
	if err != nil {
		return err
	}
	t := rep.Total
	fmt.Fprintf(stdout, "intended %.0f req/s, sent %.0f req/s over %.1fs: %d ok, %d errors %v; latency from the intended send time p50 %dµs p99 %dµs p99.9 %dµs max %dµs\n",
		t.IntendedRate, t.SentRate, t.ScheduleSeconds, t.OK, t.Errors, t.ErrorKinds, t.Latency.P50, t.Latency.P99, t.Latency.P999, t.Latency.Max)
	if *report != "" {
		f, err := os.Create(*report)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}
