package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testlog"
)

// mustBuild builds the qredge binary into a temporary directory of its
// own (a test may put other programs beside it) and returns its path.
// The package is built once per test process and copied for each test.
func mustBuild(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "qredge-build")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		built.bin = filepath.Join(dir, "qredge")
		if out, err := exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	bin := filepath.Join(t.TempDir(), "qredge")
	b, err := os.ReadFile(built.bin)
	if err == nil {
		err = os.WriteFile(bin, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// built is the binary mustBuild built; TestMain removes it.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// proc is a running 'qredge serve' process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	key    string // the printed bootstrap key, if any
	stderr *testlog.Buffer
	read   chan struct{} // closed when stderr has been read to the end
}

var listenLine = regexp.MustCompile(`msg=listening addr=(\S+)`)

// mustStartProc starts the binary in dir and waits until it listens.
func mustStartProc(t *testing.T, bin, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{stderr: &testlog.Buffer{}, read: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "QREDGE_LOG_FORMAT=text")
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	ready := make(chan struct{})
	go func() {
		defer close(p.read)
		sc := bufio.NewScanner(pipe)
		closed := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.stderr, line)
			if m := apiKeyLine.FindStringSubmatch(line); m != nil {
				p.key = m[1]
			}
			if m := listenLine.FindStringSubmatch(line); m != nil && !closed {
				p.addr = m[1]
				closed = true
				close(ready)
			}
		}
		io.Copy(io.Discard, pipe)
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("qredge serve did not start:\n%s", p.stderr)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		<-p.read // Wait only after the pipe was read to the end (os/exec's rule)
		done <- p.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("qredge serve exited with %v:\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("qredge serve did not stop on SIGTERM:\n%s", p.stderr)
	}
}

// quickStart returns the shell commands of the README's quick start (the
// block between <!-- quickstart --> and <!-- /quickstart -->), with
// continuation lines joined and comments dropped.
func quickStart(t *testing.T) []string {
	t.Helper()
	var cmds []string
	cur := ""
	for _, line := range readmeSection(t, "quickstart") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cmds = append(cmds, cur+line)
		cur = ""
	}
	return cmds
}

func mustLookCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is needed by the README quick-start test; .ci/run installs it")
		}
		t.Skip("curl not installed (under CI this fails instead)")
	}
}

// TestQuickStartBinary builds qredge and runs the README's quick start
// against it verbatim (only the address differs), then restarts it and
// checks that the link survived.
func TestQuickStartBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the binary")
	}
	mustLookCurl(t)
	bin := mustBuild(t)
	dir := t.TempDir()
	p := mustStartProc(t, bin, dir)
	if p.key == "" {
		t.Fatalf("no 'api key:' line on first start:\n%s", p.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "qredge-data", "qredge.db")); err != nil {
		t.Fatalf("default data dir not used: %v", err)
	}

	cmds := quickStart(t)
	var serveCmds, curls []string
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c, "go run ./cmd/qredge serve"):
			serveCmds = append(serveCmds, c)
		case strings.HasPrefix(c, "curl"):
			curls = append(curls, c)
		case strings.HasPrefix(c, "export QREDGE_KEY="):
		default:
			t.Fatalf("unexpected command in the quick start: %q", c)
		}
	}
	if len(serveCmds) == 0 || len(curls) < 2 {
		t.Fatalf("quick start lacks the serve command or the curl calls: %q", cmds)
	}
	runCurl := func(c string) string {
		t.Helper()
		c = strings.ReplaceAll(c, "localhost:8080", p.addr)
		cmd := exec.Command("sh", "-c", c)
		cmd.Env = append(os.Environ(), "QREDGE_KEY="+p.key)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", c, err, out, errOut.String())
		}
		return string(out)
	}
	create := runCurl(curls[0])
	if !strings.Contains(create, `"code":"spring24"`) || !strings.Contains(create, `"short_url":"http://`+p.addr+`/spring24"`) {
		t.Fatalf("create answered:\n%s", create)
	}
	checkRedirect := func(out string) {
		t.Helper()
		if !strings.HasPrefix(out, "HTTP/1.1 302") || !strings.Contains(out, "Location: https://example.com/a") {
			t.Fatalf("redirect answered:\n%s", out)
		}
	}
	checkRedirect(runCurl(curls[1]))

	p.stop(t)
	p = mustStartProc(t, bin, dir)
	if p.key != "" {
		t.Fatalf("restart printed another key:\n%s", p.stderr)
	}
	checkRedirect(runCurl(curls[len(curls)-1]))
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "msg=stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.stderr)
	}
}
