package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
)

// prescaleBinary is the program 'qredge prescale' runs. The planner and
// its Kubernetes client are a binary of their own (cmd/qredge-prescale),
// so that no other qredge command links client-go.
const prescaleBinary = "qredge-prescale"

// executable is os.Executable; tests replace it.
var executable = os.Executable

// runPrescale runs qredge-prescale with args and the standard streams of
// qredge, and returns its exit status (128+N when signal N ended it).
// SIGINT and SIGTERM are passed on to it, the end of ctx as a SIGTERM, and
// qredge waits for it to stop.
func runPrescale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, err := findPrescale()
	if err != nil {
		fmt.Fprintf(stderr, "qredge prescale: %v\n", err)
		return 1
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "qredge prescale: cannot run %s: %v\n", path, err)
		return 1
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		ctxDone := ctx.Done()
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-ctxDone:
				cmd.Process.Signal(syscall.SIGTERM)
				ctxDone = nil
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		fmt.Fprintf(stderr, "qredge prescale: %s: %v\n", path, err)
		return 1
	}
}

// findPrescale returns the qredge-prescale beside the qredge executable,
// else the one in PATH.
func findPrescale() (string, error) {
	name := prescaleBinary
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed: it was not found beside qredge or in PATH. "+
		"Build it with 'make build' (bin/%s) or 'go build ./cmd/%s', and put it beside qredge or in PATH", name, prescaleBinary, prescaleBinary)
}
