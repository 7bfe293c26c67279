package main

import (
	"crypto/rand"
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

var spooledMetric = regexp.MustCompile(`(?m)^qredge_events_total\{stage="spooled"\} (\d+)$`)

// TestServeKilledStatsExact runs the real binary in the embedded mode and
// kills it with SIGKILL in rounds: each round scans, waits until the
// events are in the local log, then resumes the paused aggregator and
// kills the process a random moment later, while it counts. After the
// last restart the stats hold exactly the scans.
func TestServeKilledStatsExact(t *testing.T) {
	bin := mustBuild(t)
	dir := t.TempDir()
	const key = "embedded-test-admin-key"
	args := []string{"--api-key", key, "--data-dir", dir + "/data"}
	p := mustStartProc(t, bin, dir, args...)
	base := "http://" + p.addr
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"drop","destination":"https://example.com/drop"}`); resp.StatusCode != 201 {
		t.Fatal(resp.StatusCode, b)
	}
	total := 0
	const rounds = 6
	for round := 0; round < rounds; round++ {
		if round > 0 {
			p = mustStartProc(t, bin, dir, args...)
			base = "http://" + p.addr
		}
		if resp, b := req(t, "POST", base+"/api/v1/analytics/pause", key, ""); resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode, b)
		}
		n := 500 + round*100
		for i := 0; i < n; i++ {
			if resp, _ := req(t, "GET", base+"/drop", "", ""); resp.StatusCode != 302 {
				t.Fatalf("scan: %d", resp.StatusCode)
			}
		}
		total += n
		testwait.For(t, 20*time.Second, "events in the log", func() bool {
			_, m := req(t, "GET", base+"/metrics", "", "")
			s := spooledMetric.FindStringSubmatch(m)
			return s != nil && s[1] == strconv.Itoa(n)
		})
		req(t, "POST", base+"/api/v1/analytics/resume", key, "")
		d, _ := rand.Int(rand.Reader, big.NewInt(30))
		time.Sleep(time.Duration(d.Int64()) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.read
		p.cmd.Wait()
	}
	p = mustStartProc(t, bin, dir, args...)
	base = "http://" + p.addr
	var st store.LinkStats
	testwait.For(t, 30*time.Second, "every scan counted", func() bool {
		_, b := req(t, "GET", base+"/api/v1/links/drop/stats", key, "")
		json.Unmarshal([]byte(b), &st)
		return st.Total >= int64(total)
	})
	time.Sleep(300 * time.Millisecond)
	_, b := req(t, "GET", base+"/api/v1/links/drop/stats?granularity=day", key, "")
	json.Unmarshal([]byte(b), &st)
	if st.Total != int64(total) {
		t.Fatalf("after %d SIGKILLs the stats hold %d scans, want %d", rounds, st.Total, total)
	}
	t.Logf("%d scans, %d SIGKILLs while counting: exactly %d counted", total, rounds, st.Total)
	p.stop(t)
}
