package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/loadtest"
)

const loadtestUsage = `Usage:
  qredge loadtest seed (--data-dir DIR | --redis ADDR) [--n 100000] [--prefix c]
  qredge loadtest run --target URL [flags]

Run 'qredge loadtest <command> --help' for the flags.
`

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Dispatch("loadtest", loadtestUsage, args, stdout, stderr, map[string]func([]string) error{
		"seed": func(a []string) error { return runLoadtestSeed(ctx, a, stdout, stderr) },
		"run":  func(a []string) error { return runLoadtestRun(ctx, a, stdout, stderr) },
	})
}

// runLoadtestRun is 'qredge loadtest run': the open-loop generator.
func runLoadtestRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := loadtest.DefaultFlags()
	fs := cli.NewFlagSet("loadtest run", "qredge loadtest run --target URL [--profile constant|spike|ramp --rate R --duration D | --schedule FILE] [flags]", stderr)
	f.RegisterFlags(fs)
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := f.Build()
	if err != nil {
		return err
	}
	var progress io.Writer = stderr
	if f.Quiet {
		progress = nil
	}
	rep, err := loadtest.Run(ctx, cfg, progress)
	if err != nil {
		return err
	}
	t := rep.Total
	fmt.Fprintf(stdout, "intended %.0f req/s, sent %.0f req/s over %.1fs: %d ok, %d errors %v; latency from the intended send time p50 %dµs p99 %dµs p99.9 %dµs max %dµs\n",
		t.IntendedRate, t.SentRate, t.ScheduleSeconds, t.OK, t.Errors, t.ErrorKinds, t.Latency.P50, t.Latency.P99, t.Latency.P999, t.Latency.Max)
	if f.Report != "" {
		file, err := os.Create(f.Report)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if err := rep.WriteJSON(file); err != nil {
			file.Close()
			return err
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
	}
	return nil
}
