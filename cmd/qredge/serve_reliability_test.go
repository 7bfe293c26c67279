package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store/boltstore"
)

// TestServeKeyAfterListen: a first start that fails to listen creates no
// admin key, so the next start prints one; a start that prints none says
// how to make one.
func TestServeKeyAfterListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := DefaultServeConfig()
	cfg.Listen = busy.Addr().String()
	cfg.DataDir = dir
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	stderr := &testlog.Buffer{}
	s := &Serve{Config: cfg, Log: newLogger(stderr, "text", "debug"), Stderr: stderr}
	if err := s.Open(context.Background()); err == nil {
		s.Close()
		t.Fatal("serve started on a busy port")
	}
	if apiKeyLine.MatchString(stderr.String()) {
		t.Fatalf("a start that failed printed a key:\n%s", stderr)
	}
	s2, out := mustStartServe(t, dir, nil)
	if !apiKeyLine.MatchString(out.String()) {
		t.Fatalf("the start after a failed one printed no key:\n%s", out)
	}
	s2.Close()
	_, out = mustStartServe(t, dir, nil)
	if apiKeyLine.MatchString(out.String()) || !strings.Contains(out.String(), "qredge apikey create") {
		t.Fatalf("a later start must print no key but say how to create one:\n%s", out)
	}
}

// TestServeStatsDamaged: damage in the stats buckets found by the check at
// start leaves scans and the API working; /readyz says degraded, the gauge
// is 1, stats routes answer 503 naming the cause.
func TestServeStatsDamaged(t *testing.T) {
	dir := t.TempDir()
	const key = "stats-damage-admin-key"
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	const n = 400
	mustBulkCreate(t, base, key, n, `{"code":"d%03d","destination":"https://example.com/%d"}`)
	for i := range n {
		if resp, _ := req(t, "GET", fmt.Sprintf("%s/d%03d", base, i), "", ""); resp.StatusCode != 302 {
			t.Fatalf("scan: %d", resp.StatusCode)
		}
	}
	testwait.For(t, 20*time.Second, "scans counted", func() bool {
		_, b := req(t, "GET", base+"/api/v1/stats/top?limit=1000", key, "")
		return strings.Count(b, `"code"`) == n
	})
	s.Close()

	damageBucket(t, filepath.Join(dir, boltstore.FileName), "stats")

	s, out := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base = "http://" + s.Addr()
	if resp, _ := req(t, "GET", base+"/d007", "", ""); resp.StatusCode != 302 {
		t.Fatalf("scan with damaged stats: %d", resp.StatusCode)
	}
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"new1","destination":"https://example.com/new"}`); resp.StatusCode != 201 {
		t.Fatalf("create with damaged stats: %d %s", resp.StatusCode, b)
	}
	resp, b := req(t, "GET", base+"/readyz", "", "")
	if resp.StatusCode != 200 || !strings.Contains(b, "degraded") || !strings.Contains(b, "stats") {
		t.Fatalf("readyz: %d %q, want 200 and degraded", resp.StatusCode, b)
	}
	if _, m := req(t, "GET", base+"/metrics", "", ""); !strings.Contains(m, "\nqredge_stats_store_failed 1\n") {
		t.Fatalf("metrics lack qredge_stats_store_failed 1")
	}
	resp, b = req(t, "GET", base+"/api/v1/links/d007/stats", key, "")
	var p struct {
		Code, Detail string
	}
	json.Unmarshal([]byte(b), &p)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(p.Detail, "damaged") {
		t.Fatalf("stats: %d %s", resp.StatusCode, b)
	}
	if !strings.Contains(out.String(), "qredge check") {
		t.Fatalf("the log does not say how to recover:\n%s", out)
	}
}

// vmKB reads a field of /proc/PID/status in kB.
func vmKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// bigPost sends a request with a body of size bytes and returns the
// status it got (0 when the connection ended first). It stops writing as
// soon as the answer comes.
func bigPost(addr, path, key string, size int) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	hdr := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(size) + "\r\n"
	if key != "" {
		hdr += "Authorization: Bearer " + key + "\r\n"
	}
	if _, err := io.WriteString(c, hdr+"\r\n"); err != nil {
		return 0
	}
	status := make(chan int, 1)
	go func() {
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil {
			status <- 0
			return
		}
		n, _ := strconv.Atoi(string(buf[9:12]))
		status <- n
	}()
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		select {
		case s := <-status:
			return s
		default:
		}
		if _, err := c.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
			break
		}
	}
	return <-status
}

// TestServeBodiesRefusedUnread: 30 concurrent 31 MB POSTs to a code, to
// the API without a key, and to the bulk route with a read-only key are
// refused before their bodies are read: serve's memory grows by less than
// 50 MB (the peak, VmHWM, against the resident size before).
func TestServeBodiesRefusedUnread(t *testing.T) {
	bin := mustBuild(t)
	dir := t.TempDir()
	const key = "bodies-test-admin-key"
	p := mustStartProc(t, bin, dir, "--api-key", key, "--data-dir", dir+"/data", "--rate-limit", "0")
	base := "http://" + p.addr
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"code1","destination":"https://example.com/1"}`); resp.StatusCode != 201 {
		t.Fatal(resp.StatusCode, b)
	}
	resp, b := req(t, "POST", base+"/api/v1/keys", key, `{"name":"reader","scope":"read"}`)
	var k struct {
		Secret string `json:"key"`
	}
	json.Unmarshal([]byte(b), &k)
	if resp.StatusCode != 201 || k.Secret == "" {
		t.Fatal(resp.StatusCode, b)
	}
	before := vmKB(t, p.cmd.Process.Pid, "VmRSS")
	const size = 31 << 20
	for _, c := range []struct {
		path, key string
		want      int
	}{{"/code1", "", 413}, {"/api/v1/links", "", 401}, {"/api/v1/links/bulk", k.Secret, 403}} {
		var wg sync.WaitGroup
		statuses := make([]int, 30)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = bigPost(p.addr, c.path, c.key, size)
			}()
		}
		wg.Wait()
		for _, s := range statuses {
			if s != c.want {
				t.Errorf("POST %s with 31 MB: %v, want all %d", c.path, statuses, c.want)
				break
			}
		}
	}
	peak := vmKB(t, p.cmd.Process.Pid, "VmHWM")
	after := vmKB(t, p.cmd.Process.Pid, "VmRSS")
	t.Logf("serve RSS %d MB before, peak %d MB, %d MB after 90 POSTs of 31 MB", before>>10, peak>>10, after>>10)
	if peak-before > 50<<10 {
		t.Fatalf("serve's peak RSS grew by %d MB (from %d MB), want < 50 MB", (peak-before)>>10, before>>10)
	}
	if resp, _ := req(t, "GET", base+"/code1", "", ""); resp.StatusCode != 302 {
		t.Fatalf("scan after the POSTs: %d", resp.StatusCode)
	}
	p.stop(t)
}
