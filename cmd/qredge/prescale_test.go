package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/qredge/qredge/internal/cli"
)

// TestPrescaleShimMissing: without qredge-prescale, 'qredge prescale'
// says what is missing and how to build it.
func TestPrescaleShimMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	orig := cli.Executable
	defer func() { cli.Executable = orig }()
	cli.Executable = func() (string, error) { return filepath.Join(t.TempDir(), "qredge"), nil }

	code, out, errOut := runCmd(t, "prescale", "--replicas", "3")
	if code != 1 || out != "" || !strings.Contains(errOut, "qredge-prescale is not installed") || !strings.Contains(errOut, "make build") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// It stays in the usage.
	if _, out, _ := runCmd(t, "help"); !strings.Contains(out, "qredge prescale  raise the edge HPAs' minReplicas") {
		t.Fatalf("usage:\n%s", out)
	}
}
