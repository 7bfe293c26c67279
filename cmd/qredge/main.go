// Command qredge is the edge redirect and QR-code service: one binary with a
// subcommand per role. This is the only package that wires store backends,
// the hot path and the API together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `qredge: edge redirects and QR codes

Usage:
  qredge serve     run everything in one process (embedded store, no Redis, no Kafka)
  qredge edge      answer scans from memory, kept current from Redis
  qredge api       the management REST API over Redis
  qredge analytics aggregate scan events from Kafka into Redis (a consumer group)
  qredge apikey    create, list or revoke API keys
  qredge links     import and export links as CSV or JSON lines
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
	var err error
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runServe(ctx, args[1:], stderr)
	case "edge":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runEdge(ctx, args[1:], stderr)
	case "api":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runAPI(ctx, args[1:], stderr)
	case "analytics":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runAnalytics(ctx, args[1:], stderr)
	case "loadtest":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runLoadtest(ctx, args[1:], stdout, stderr)
	case "links":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runLinks(ctx, args[1:], stdout, stderr)
	case "prescale":
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		err = runPrescale(ctx, args[1:], stdout, stderr)
	case "apikey":
		err = runAPIKey(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "qredge %s (commit %s)\n", version, commit)
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "qredge: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "qredge %s: %v\n", args[0], err)
		return 1
	}
}
