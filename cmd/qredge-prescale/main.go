// Command qredge-prescale raises the edge HorizontalPodAutoscalers'
// minReplicas ahead of the drops in the links' schedules, and restores it
// after them (internal/prescale). It is the only qredge binary that links
// a Kubernetes client; 'qredge prescale' runs it.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/qredge/qredge/internal/cli"
)

// Set at build time with -ldflags "-X main.version=..." (make build); a
// plain go build falls back to Go's build info (cli.Version). It is in the
// user agent of the requests to Kubernetes.
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0, 1
// after an error, 2 after a usage error. It stops on SIGINT and SIGTERM
// through ctx.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Errors are named as 'qredge prescale' names itself, which runs this
	// binary.
	return cli.ExitCode(runPrescale(ctx, args, stdout, stderr), stderr, "qredge prescale")
}
