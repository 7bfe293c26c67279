package kafka

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/testwait"
)

// spoolChild is the child mode of TestSIGKILLWhileSpooling (see TestMain):
// a process whose Kafka is unreachable spools events, reports how many, and
// keeps spooling until it is killed.
func spoolChild(dir string) {
	cfg := DefaultWriterConfig()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"} // nothing listens: every publish fails
	sink, _ := NewWriter(cfg)
	pc := analytics.DefaultConfig()
	pc.SpoolDir = dir
	pc.Linger = 2 * time.Millisecond
	pc.PublishTimeout = 50 * time.Millisecond
	pc.RetryInterval = time.Hour
	p, err := analytics.Start(pc, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		e := analytics.Event{Time: time.Now().UnixNano(), Key: fmt.Sprintf("k%d\x00", i), Version: 1, Status: 302, Rule: -1}
		p.Queue().Enqueue(&e)
		if i%500 == 499 {
			time.Sleep(5 * time.Millisecond)
			st := p.Stats()
			// Only events the spool has accepted count as spooled.
			fmt.Println("spooled", st.Spooled.Load())
		}
	}
}

// TestSIGKILLWhileSpooling kills a process with SIGKILL while it spools,
// then starts a pipeline on the same spool with Kafka up: every event the
// dead process had spooled is delivered.
func TestSIGKILLWhileSpooling(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "QREDGE_TEST_SPOOL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var spooled uint64
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "spooled "); ok {
			spooled, _ = strconv.ParseUint(v, 10, 64)
			if spooled >= 5000 {
				break
			}
		}
		if strings.HasPrefix(line, "error") {
			t.Fatal(line)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if spooled < 5000 {
		t.Fatalf("child spooled only %d events", spooled)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "spool-*"))
	t.Logf("child killed after spooling at least %d events; %d segment files left", spooled, len(segs))

	k := kafkatest.MustStart(t, kafkatest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := consume(t, ctx, k.ListenAddrs(), "crash")
	sink := mustWriter(t, k.ListenAddrs())
	pc := analytics.DefaultConfig()
	pc.SpoolDir = dir
	pc.RetryInterval = 50 * time.Millisecond
	p, err := analytics.Start(pc, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testwait.For(t, 60*time.Second, "the spool drained", func() bool { return p.Spool().Size() == 0 })
	waitCount(t, c, int(spooled), 30*time.Second)
	got, dups, bad := c.count()
	t.Logf("delivered %d distinct events after the restart (reported spooled before the kill: %d), producer dups %d, undecodable %d, corrupt bytes %d",
		got, spooled, dups, bad, p.Stats().Corrupt.Load())
	if uint64(got) < spooled || bad != 0 {
		t.Fatalf("delivered %d, the dead process had spooled %d", got, spooled)
	}
}
