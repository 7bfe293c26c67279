package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs is every process the suite started and has not reaped yet, so
// that a signal or a panic can kill them all.
var procs = struct {
	sync.Mutex
	m map[int]*exec.Cmd
}{m: map[int]*exec.Cmd{}}

// killAll SIGKILLs every process still registered (SIGCONT first, for a
// stopped broker).
func killAll() {
	procs.Lock()
	defer procs.Unlock()
	for pid, c := range procs.m {
		_ = c.Process.Signal(syscall.SIGCONT)
		_ = c.Process.Kill()
		_, _ = c.Process.Wait()
		delete(procs.m, pid)
	}
}

// proc is one started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs bin with args, its output appended to dir/name.log.
func start(dir, name, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = logf, logf
	if err := c.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: c, done: make(chan struct{})}
	procs.Lock()
	procs.m[c.Process.Pid] = c
	procs.Unlock()
	go func() {
		_ = c.Wait()
		logf.Close()
		procs.Lock()
		delete(procs.m, c.Process.Pid)
		procs.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) signal(s syscall.Signal) error { return p.cmd.Process.Signal(s) }

// stop sends sig and waits up to d for the exit, then SIGKILLs.
func (p *proc) stop(sig syscall.Signal, d time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freePorts(n int) ([]int, error) {
	// Hold all listeners at once so that the ports differ.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitUntil polls f every 50 ms until it is true or d passes.
func waitUntil(ctx context.Context, d time.Duration, what string, f func() bool) error {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

func get200(url string) bool {
	resp, err := httpc.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// stack is one fresh set of processes: Redis, a kfake broker, two edges,
// analytics and the API.
type stack struct {
	dir, qredge, kfake string
	redisAOF           bool
	spoolMax           int64 // edges' --spool-max-bytes, 0 for the default
	redisPort          int
	brokers            string
	apiKey             string

	redis, kafka, analytics, api *proc
	edges                        [2]*proc
	edgePorts, edgeAdmin         [2]int
	apiPort, apiAdmin, anAdmin   int
}

func (s *stack) edgeURL(i int) string   { return "http://127.0.0.1:" + strconv.Itoa(s.edgePorts[i]) }
func (s *stack) apiURL() string         { return "http://127.0.0.1:" + strconv.Itoa(s.apiPort) }
func (s *stack) redisAddr() string      { return "127.0.0.1:" + strconv.Itoa(s.redisPort) }
func (s *stack) readyz(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) + "/readyz" }

// newStack starts Redis, the broker and the API in dir; the edges and
// analytics start after the seeding.
func newStack(ctx context.Context, dir, qredge, kfake string, aof bool) (*stack, error) {
	s := &stack{dir: dir, qredge: qredge, kfake: kfake, redisAOF: aof, apiKey: "qk_chaos_0123456789abcdef0123456789"}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	s.redisPort = ports[0]
	s.edgePorts = [2]int{ports[1], ports[2]}
	s.edgeAdmin = [2]int{ports[3], ports[4]}
	s.apiPort, s.apiAdmin, s.anAdmin = ports[5], ports[6], ports[7]
	// On an error s is returned too, for close to stop what did start.
	if err := s.startRedis(ctx); err != nil {
		return s, err
	}
	if err := s.startKafka(ctx); err != nil {
		return s, err
	}
	return s, s.startAPI(ctx)
}

func (s *stack) startRedis(ctx context.Context) error {
	args := []string{"--port", strconv.Itoa(s.redisPort), "--bind", "127.0.0.1", "--save", "", "--dir", s.dir, "--daemonize", "no"}
	if s.redisAOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	p, err := start(s.dir, "redis", "redis-server", args...)
	if err != nil {
		return err
	}
	s.redis = p
	return waitUntil(ctx, 20*time.Second, "redis-server", func() bool {
		out, err := s.redisCLI("PING")
		return err == nil && strings.TrimSpace(out) == "PONG"
	})
}

func (s *stack) redisCLI(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(s.redisPort)}, args...)...).Output()
	return string(out), err
}

func (s *stack) startKafka(ctx context.Context) error {
	p, err := start(s.dir, "kfake", s.kfake)
	if err != nil {
		return err
	}
	s.kafka = p
	return waitUntil(ctx, 20*time.Second, "kfakeserver", func() bool {
		f, err := os.Open(filepath.Join(s.dir, "kfake.log"))
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if b, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				s.brokers = b
				return true
			}
		}
		return false
	})
}

func (s *stack) startAPI(ctx context.Context) error {
	p, err := start(s.dir, "api", s.qredge, "api", "--redis", s.redisAddr(),
		"--listen", "127.0.0.1:"+strconv.Itoa(s.apiPort), "--admin-listen", "127.0.0.1:"+strconv.Itoa(s.apiAdmin),
		"--api-key", s.apiKey, "--public-url", s.edgeURL(0), "--rate-limit", "0", "--log-level", "warn")
	if err != nil {
		return err
	}
	s.api = p
	return waitUntil(ctx, 30*time.Second, "qredge api /readyz", func() bool { return get200(s.readyz(s.apiAdmin)) })
}

// seed creates n links c1..cN through qredge loadtest seed.
func (s *stack) seed(n int) error {
	out, err := exec.Command(s.qredge, "loadtest", "seed", "--redis", s.redisAddr(), "--n", strconv.Itoa(n), "--prefix", "c").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot seed: %v: %s", err, out)
	}
	return nil
}

func (s *stack) startEdge(ctx context.Context, i int) error {
	args := []string{"edge", "--redis", s.redisAddr(), "--kafka", s.brokers,
		"--listen", "127.0.0.1:" + strconv.Itoa(s.edgePorts[i]), "--admin-listen", "127.0.0.1:" + strconv.Itoa(s.edgeAdmin[i]),
		"--spool-dir", filepath.Join(s.dir, "spool"+strconv.Itoa(i)), "--ip-hash-secret", "chaos",
		"--node-id", "edge" + strconv.Itoa(i), "--log-level", "warn"}
	if s.spoolMax > 0 {
		args = append(args, "--spool-max-bytes", strconv.FormatInt(s.spoolMax, 10))
	}
	p, err := start(s.dir, "edge"+strconv.Itoa(i), s.qredge, args...)
	if err != nil {
		return err
	}
	s.edges[i] = p
	return waitUntil(ctx, 60*time.Second, "qredge edge /readyz", func() bool { return get200(s.readyz(s.edgeAdmin[i])) })
}

func (s *stack) startAnalytics(ctx context.Context) error {
	p, err := start(s.dir, "analytics", s.qredge, "analytics", "--redis", s.redisAddr(), "--kafka", s.brokers,
		"--admin-listen", "127.0.0.1:"+strconv.Itoa(s.anAdmin), "--kafka-session-timeout", "6s", "--log-level", "info")
	if err != nil {
		return err
	}
	s.analytics = p
	return waitUntil(ctx, 30*time.Second, "qredge analytics /readyz", func() bool { return get200(s.readyz(s.anAdmin)) })
}

// close stops every process of the stack.
func (s *stack) close() {
	for _, p := range []*proc{s.edges[0], s.edges[1], s.analytics, s.api, s.kafka, s.redis} {
		if p != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
}

// analyticsAssignments counts the "partitions assigned" lines of every
// analytics process started so far (they share one log file) that assign
// at least one partition.
func (s *stack) analyticsAssignments() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "analytics.log"))
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `msg="partitions assigned"`) && !strings.Contains(line, `partitions=[]`) && !strings.Contains(line, `partitions="[]"`) {
			n++
		}
	}
	return n
}

// getBody returns the body of a GET, "" on any error.
func getBody(url string) string {
	resp, err := httpc.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return string(b)
}
