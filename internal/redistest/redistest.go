// Package redistest starts real redis-server processes on free loopback
// ports for tests: single servers (restartable, optionally persistent) and
// three-node clusters. Tests never use a Redis mock. When redis-server is
// missing the tests fail if CI is set and are skipped otherwise; .ci/run
// installs it.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testnet"
)

// Server is one redis-server process.
type Server struct {
	tb   testing.TB
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Addr returns host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Options for a single server.
type Options struct {
	// Persistent keeps data across Restart (append-only file, fsync always).
	Persistent bool
}

func need(tb testing.TB, bins ...string) {
	tb.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s is not installed; .ci/run installs it (apt-get install redis-server)", b)
			}
			tb.Skipf("%s is not installed (under CI this fails instead)", b)
		}
	}
}

// freePort returns a loopback port that is free, and whose cluster bus
// port (port+10000) is free too, both below the ephemeral range, so that
// a restart finds them free again (internal/testnet).
func freePort(tb testing.TB) int {
	tb.Helper()
	return testnet.FreePort(tb, 10000)
}

// MustStart starts a redis-server and stops it when the test ends.
func MustStart(tb testing.TB, opt Options) *Server {
	tb.Helper()
	need(tb, "redis-server")
	s := &Server{tb: tb, Port: freePort(tb), dir: tb.TempDir()}
	s.args = []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--dir", s.dir,
		"--save", "", "--protected-mode", "no", "--loglevel", "warning"}
	if opt.Persistent {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.start()
	tb.Cleanup(s.Kill)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	s.cmd.Dir = s.dir
	logf, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", time.Now().UnixNano())))
	if err != nil {
		s.tb.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatalf("cannot start redis-server: %v", err)
	}
	go func(cmd *exec.Cmd, f *os.File) { cmd.Wait(); f.Close() }(s.cmd, logf)
	if err := waitPing(s.Addr(), 10*time.Second); err != nil {
		s.tb.Fatalf("redis-server on %s did not answer: %v", s.Addr(), err)
	}
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		for i := 0; i < 200; i++ {
			if !pingOnce(s.Addr()) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Restart kills the server and starts it again on the same port with the
// same data directory.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	// The port may linger briefly.
	for i := 0; i < 100; i++ {
		ln, err := net.Listen("tcp", s.Addr())
		if err == nil {
			ln.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.start()
}

// Do runs one command through redis-cli and returns its output.
func (s *Server) Do(args ...string) string {
	s.tb.Helper()
	return cli(s.tb, s.Port, args...)
}

func cli(tb testing.TB, port int, args ...string) string {
	tb.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func pingOnce(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

func waitPing(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pingOnce(addr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %s", timeout)
}

// Cluster is a three-master Redis Cluster without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses, comma-separated.
func (c *Cluster) Addrs() string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr())
	}
	return strings.Join(a, ",")
}

// MustStartCluster starts three cluster-enabled servers and joins them
// with redis-cli --cluster create.
func MustStartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	need(tb, "redis-server", "redis-cli")
	c := &Cluster{}
	var addrs []string
	for i := 0; i < 3; i++ {
		s := &Server{tb: tb, Port: freePort(tb), dir: tb.TempDir()}
		s.args = []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--dir", s.dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "2000"}
		s.start()
		tb.Cleanup(s.Kill)
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		for {
			if strings.Contains(cli(tb, n.Port, "cluster", "info"), "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				tb.Fatalf("cluster did not become ok: %s", cli(tb, n.Port, "cluster", "info"))
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return c
}

// TotalCommands returns the commands the server has processed.
func (s *Server) TotalCommands() int64 {
	s.tb.Helper()
	for _, line := range strings.Split(s.Do("INFO", "stats"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	s.tb.Fatal("no total_commands_processed in INFO stats")
	return 0
}

// TotalCommands returns the commands all nodes have processed.
func (c *Cluster) TotalCommands() int64 {
	var n int64
	for _, s := range c.Nodes {
		n += s.TotalCommands()
	}
	return n
}

// Owner returns the node that serves key (the master of its slot).
func (c *Cluster) Owner(key string) *Server {
	for _, s := range c.Nodes {
		if out := cli(s.tb, s.Port, "EXISTS", key); !strings.Contains(out, "MOVED") {
			return s
		}
	}
	c.Nodes[0].tb.Fatalf("no node owns %s", key)
	return nil
}
