// Command qredge is the edge redirect and QR-code service: one binary with a
// subcommand per role. This is the only package that wires store backends,
// the hot path and the API together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/qredge/qredge/internal/cli"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=..."
// (make build); a plain go build leaves them, and versionInfo reads Go's
// build info instead.
var (
	version = "dev"
	commit  = "unknown"
)

// versionInfo returns the version and commit set at build time, or else
// those Go's build info holds.
func versionInfo() (string, string) { return cli.Version(version, commit) }

// buildInfo is the qredge_build_info gauge.
func buildInfo() prometheus.Collector { return cli.BuildInfo(version, commit) }

const usage = `qredge: edge redirects and QR codes

Usage:
  qredge serve     run everything in one process (embedded store, no Redis, no Kafka)
  qredge edge      answer scans from memory, kept current from Redis
  qredge api       the management REST API over Redis
  qredge analytics aggregate scan events from Kafka into Redis (a consumer group)
  qredge webhooks  deliver scans and link changes to webhooks (a consumer group)
  qredge apikey    create, list or revoke API keys
  qredge backup    copy the embedded store while serve runs (or from a stopped data dir)
  qredge check     check the embedded store's file, offline
  qredge links     import and export links as CSV or JSON lines
  qredge dataset   show the link dataset in Redis, or adopt a new one after a loss
  qredge loadtest  seed links for benchmarks, and run the flash-crowd load generator
  qredge prescale  raise the edge HPAs' minReplicas ahead of scheduled drops
  qredge version   print the version

Run 'qredge <command> --help' for the flags of a command.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// The long-running commands stop on SIGINT and SIGTERM through ctx.
	withSignals := map[string]func(ctx context.Context, args []string) error{
		"serve":     func(ctx context.Context, a []string) error { return runServe(ctx, a, stderr) },
		"edge":      func(ctx context.Context, a []string) error { return runEdge(ctx, a, stderr) },
		"api":       func(ctx context.Context, a []string) error { return runAPI(ctx, a, stderr) },
		"analytics": func(ctx context.Context, a []string) error { return runAnalytics(ctx, a, stderr) },
		"webhooks":  func(ctx context.Context, a []string) error { return runWebhooks(ctx, a, stderr) },
		"loadtest":  func(ctx context.Context, a []string) error { return runLoadtest(ctx, a, stdout, stderr) },
		"links":     func(ctx context.Context, a []string) error { return runLinks(ctx, a, stdout, stderr) },
	}
	var err error
	switch cmd, ok := withSignals[args[0]]; {
	case ok:
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = cmd(ctx, args[1:])
	case args[0] == "prescale":
		// qredge-prescale, a binary of its own: runPrescale passes the
		// signals on to it.
		return runPrescale(ctx, args[1:], stdout, stderr)
	case args[0] == "apikey":
		err = runAPIKey(ctx, args[1:], stdout, stderr)
	case args[0] == "backup":
		err = runBackup(ctx, args[1:], stdout, stderr)
	case args[0] == "check":
		err = runCheck(ctx, args[1:], stdout, stderr)
	case args[0] == "dataset":
		err = runDataset(ctx, args[1:], stdout, stderr)
	case args[0] == "version" || args[0] == "--version" || args[0] == "-version":
		v, c := versionInfo()
		fmt.Fprintf(stdout, "qredge %s (commit %s)\n", v, c)
	case args[0] == "help" || args[0] == "--help" || args[0] == "-h" || args[0] == "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "qredge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cli.ExitCode(err, stderr, "qredge "+args[0])
}
