package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/qredge/qredge/internal/cli"
)

// mustFakePrescale writes a qredge-prescale shell script with body into
// dir.
func mustFakePrescale(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, prescaleBinary), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runQredge runs 'qredge args...' and returns the exit code, stdout and
// stderr.
func runQredge(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestPrescaleShim: 'qredge prescale' runs qredge-prescale with the same
// arguments, its output and exit status passed through.
func TestPrescaleShim(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake qredge-prescale is a shell script")
	}
	inPath, beside := t.TempDir(), t.TempDir()
	t.Setenv("PATH", inPath)
	orig := cli.Executable
	defer func() { cli.Executable = orig }()
	cli.Executable = func() (string, error) { return filepath.Join(beside, "qredge"), nil }

	f := func(body string, args []string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		mustFakePrescale(t, inPath, body)
		code, out, errOut := runQredge(t, append([]string{"prescale"}, args...)...)
		if code != wantCode || out != wantOut || errOut != wantErr {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", body, code, out, errOut, wantCode, wantOut, wantErr)
		}
	}
	f(`printf '[%s]' "$@"; echo; echo warn >&2`, []string{"--replicas", "3", "--hpa", "a b"}, 0, "[--replicas][3][--hpa][a b]\n", "warn\n")
	f(`echo "qredge prescale: hpa qredge/nope: not found" >&2; exit 1`, nil, 1, "", "qredge prescale: hpa qredge/nope: not found\n")
	f(`exit 2`, []string{"--replicas", "many"}, 2, "", "")
	f(`kill -TERM $$`, nil, 128+15, "", "")

	// The one beside qredge wins over the one in PATH.
	mustFakePrescale(t, beside, `echo beside`)
	code, out, _ := runQredge(t, "prescale")
	if code != 0 || out != "beside\n" {
		t.Fatalf("exit %d, stdout %q; want the qredge-prescale beside qredge", code, out)
	}
}

// TestPrescaleShimMissing: without qredge-prescale, 'qredge prescale'
// says what is missing and how to build it.
func TestPrescaleShimMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	orig := cli.Executable
	defer func() { cli.Executable = orig }()
	cli.Executable = func() (string, error) { return filepath.Join(t.TempDir(), "qredge"), nil }

	code, out, errOut := runQredge(t, "prescale", "--replicas", "3")
	if code != 1 || out != "" || !strings.Contains(errOut, "qredge-prescale is not installed") || !strings.Contains(errOut, "make build") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// It stays in the usage.
	if _, out, _ := runQredge(t, "help"); !strings.Contains(out, "qredge prescale  raise the edge HPAs' minReplicas") {
		t.Fatalf("usage:\n%s", out)
	}
}
