package main

import (
	"context"
	"io"

	"github.com/qredge/qredge/internal/cli"
)

// prescaleBinary is the program 'qredge prescale' runs. The planner and
// its Kubernetes client are a binary of their own (cmd/qredge-prescale),
// so that no other qredge command links client-go.
const prescaleBinary = "qredge-prescale"

// runPrescale runs qredge-prescale beside qredge (or in PATH) with args
// and returns its exit status.
func runPrescale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.RunSibling(ctx, "qredge prescale", prescaleBinary, args, stdout, stderr)
}
