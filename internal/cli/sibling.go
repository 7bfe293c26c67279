package cli

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

// Executable is os.Executable; tests replace it.
var Executable = os.Executable

// RunSibling runs the program name (found by FindSibling) with args and
// the standard streams given, as the command cmdName, and returns its
// exit status (128+N when signal N ended it). SIGINT and SIGTERM are
// passed on to it, the end of ctx as a SIGTERM, and RunSibling waits for
// it to stop.
func RunSibling(ctx context.Context, cmdName, name string, args []string, stdout, stderr io.Writer) int {
	path, err := FindSibling(name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmdName, err)
		return 1
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: cannot run %s: %v\n", cmdName, path, err)
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
		fmt.Fprintf(stderr, "%s: %s: %v\n", cmdName, path, err)
		return 1
	}
}

// FindSibling returns the program name beside the running executable,
// else the one in PATH.
func FindSibling(name string) (string, error) {
	base := name
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if exe, err := Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed: it was not found beside qredge or in PATH. "+
		"Build it with 'make build' (bin/%s) or 'go build ./cmd/%s', and put it beside qredge or in PATH", name, base, base)
}
