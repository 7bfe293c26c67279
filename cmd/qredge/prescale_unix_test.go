//go:build unix

// The fake qredge-prescale of these tests is a shell script.

package main

import (
	"os"
	"path/filepath"
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

// TestPrescaleShim: 'qredge prescale' runs qredge-prescale with the same
// arguments, its output and exit status passed through.
func TestPrescaleShim(t *testing.T) {
	inPath, beside := t.TempDir(), t.TempDir()
	t.Setenv("PATH", inPath)
	orig := cli.Executable
	defer func() { cli.Executable = orig }()
	cli.Executable = func() (string, error) { return filepath.Join(beside, "qredge"), nil }

	f := func(body string, args []string, wantCode int, wantOut, wantErr string) {
		t.Helper()
		mustFakePrescale(t, inPath, body)
		code, out, errOut := runCmd(t, append([]string{"prescale"}, args...)...)
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
	code, out, _ := runCmd(t, "prescale")
	if code != 0 || out != "beside\n" {
		t.Fatalf("exit %d, stdout %q; want the qredge-prescale beside qredge", code, out)
	}
}
