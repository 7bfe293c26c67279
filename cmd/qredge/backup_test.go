package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store/boltstore"
)

// TestBackupUnderLoad takes an online backup while links are created
// through the API, restores it into a new data directory and finds there
// every link whose creation was acknowledged before the backup started;
// the backup passes the check. Then it backs up the stopped data
// directory offline, and restores that too.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	const key = "backup-test-admin-key"
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	mustBulkCreate(t, base, key, 5000, `{"code":"s%04d","destination":"https://example.com/seed/%d"}`)

	type ack struct {
		code string
		at   time.Time
	}
	var (
		mu   sync.Mutex
		acks []ack
		load loops
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		load.Go(func(i int) {
			code := fmt.Sprintf("w%d-%d", w, i)
			r, _ := http.NewRequest("POST", base+"/api/v1/links", strings.NewReader(`{"code":"`+code+`","destination":"https://example.com/`+code+`"}`))
			r.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(r)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 201 {
				mu.Lock()
				acks = append(acks, ack{code, time.Now()})
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	out := filepath.Join(t.TempDir(), "online.db")
	started := time.Now()
	code, stdout, stderr := runCmd(t, "backup", "--server", base, "--api-key", key, "--out", out)
	time.Sleep(100 * time.Millisecond) // writes go on after the backup too
	load.Stop()
	if code != 0 {
		t.Fatalf("qredge backup: exit %d\n%s%s", code, stdout, stderr)
	}
	var before []string
	for _, a := range acks {
		if a.at.Before(started) {
			before = append(before, a.code)
		}
	}
	if len(before) < 10 || len(before) == len(acks) {
		t.Fatalf("%d creates acknowledged before the backup, %d in all: the load did not overlap the backup", len(before), len(acks))
	}
	restored := t.TempDir()
	copyFile(t, out, filepath.Join(restored, boltstore.FileName))
	if rep, err := boltstore.Verify(restored); err != nil || !rep.Healthy() {
		t.Fatalf("the backup fails the check: %v %v", err, rep.Summary())
	}
	have := map[string]bool{}
	for _, l := range dataDirLinks(t, restored) {
		have[l.Code] = true
	}
	for _, c := range before {
		if !have[c] {
			t.Fatalf("link %s, acknowledged before the backup started, is not in it", c)
		}
	}
	if !have["s4999"] {
		t.Fatal("seeded links missing from the backup")
	}
	t.Logf("online backup under load: %d of %d creates acknowledged before it, all restored; %d links in the backup", len(before), len(acks), len(have))

	// A running server holds the file: the offline form says so.
	if code, _, stderr := runCmd(t, "backup", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "x.db")); code == 0 || !strings.Contains(stderr, "--server") {
		t.Fatalf("offline backup of a running server: %d %s", code, stderr)
	}
	s.Close()
	off := filepath.Join(t.TempDir(), "offline.db")
	if code, stdout, stderr := runCmd(t, "backup", "--data-dir", dir, "--out", off); code != 0 || !strings.Contains(stdout, "links: ") {
		t.Fatalf("offline backup: %d %s%s", code, stdout, stderr)
	}
	// Restore: the backup as qredge.db of a data directory serves.
	restoredDir := t.TempDir()
	copyFile(t, off, filepath.Join(restoredDir, boltstore.FileName))
	s2, _ := mustStartServe(t, restoredDir, func(c *ServeConfig) { c.API.AdminKey = key })
	resp, _ := req(t, "GET", "http://"+s2.Addr()+"/"+before[len(before)-1], "", "")
	if resp.StatusCode != 302 {
		t.Fatalf("restored link: %d", resp.StatusCode)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// mustBulkCreate creates n links through the bulk endpoint of the serve
// at base; link i is format with i filled in twice (code and destination).
func mustBulkCreate(t *testing.T, base, key string, n int, format string) {
	t.Helper()
	var bulk strings.Builder
	bulk.WriteString("[")
	for i := range n {
		if i > 0 {
			bulk.WriteString(",")
		}
		fmt.Fprintf(&bulk, format, i, i)
	}
	bulk.WriteString("]")
	if resp, b := req(t, "POST", base+"/api/v1/links/bulk", key, bulk.String()); resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("bulk create: %d %s", resp.StatusCode, b)
	}
}

// damageBucket overwrites the root page of a top-level bucket of the
// stopped data file at path with random bytes, keeping the page header.
func damageBucket(t *testing.T, path, bucket string) {
	t.Helper()
	rep, err := boltstore.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	for _, b := range rep.Buckets {
		if b.Name == bucket {
			root = b.Root
		}
	}
	if root < 2 {
		t.Fatalf("the %s bucket has no page of its own: %+v", bucket, rep.Buckets)
	}
	junk := make([]byte, rep.PageSize-16)
	r := rand.New(rand.NewPCG(root, 1))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(junk, int64(root)*int64(rep.PageSize)+16); err != nil {
		t.Fatal(err)
	}
}

// TestCheckCommand: qredge check says healthy (exit 0) or what is damaged
// (exit 1); with only the stats damaged, --drop-stats repairs the file
// and serve starts with its links and working stats.
func TestCheckCommand(t *testing.T) {
	if code, _, stderr := runCmd(t, "check", "--data-dir", t.TempDir()); code == 0 || !strings.Contains(stderr, "does not exist") {
		t.Fatalf("check of an empty dir: %d %s", code, stderr)
	}
	dir := t.TempDir()
	const key = "check-test-admin-key"
	s, _ := mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	mustBulkCreate(t, base, key, 3000, `{"code":"k%04d","destination":"https://example.com/%d"}`)
	for i := range 400 {
		req(t, "GET", fmt.Sprintf("%s/k%04d", base, i), "", "")
	}
	testwait.For(t, 20*time.Second, "scans counted", func() bool {
		_, b := req(t, "GET", base+"/api/v1/stats/top?limit=1000", key, "")
		return strings.Count(b, `"code"`) == 400
	})
	if code, _, stderr := runCmd(t, "check", "--data-dir", dir); code == 0 || !strings.Contains(stderr, "locked by another qredge process") {
		t.Fatalf("check of a running server's dir: %d %s", code, stderr)
	}
	s.Close()
	code, stdout, stderr := runCmd(t, "check", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "healthy") || !strings.Contains(stdout, "3000 keys") {
		t.Fatalf("check of a healthy store: %d\n%s%s", code, stdout, stderr)
	}
	path := filepath.Join(dir, boltstore.FileName)
	healthy, _ := os.ReadFile(path)

	// Damage in the stats only.
	damageBucket(t, path, "stats")
	code, stdout, _ = runCmd(t, "check", "--data-dir", dir)
	if code != 1 || !strings.Contains(stdout, `bucket "stats"`) || !strings.Contains(stdout, "--drop-stats") {
		t.Fatalf("check of damaged stats: %d\n%s", code, stdout)
	}
	if code, stdout, stderr := runCmd(t, "check", "--data-dir", dir, "--drop-stats"); code != 0 || !strings.Contains(stdout, "healthy") {
		t.Fatalf("check --drop-stats: %d\n%s%s", code, stdout, stderr)
	}
	s, _ = mustStartServe(t, dir, func(c *ServeConfig) { c.API.AdminKey = key })
	base = "http://" + s.Addr()
	if resp, _ := req(t, "GET", base+"/k2999", "", ""); resp.StatusCode != 302 {
		t.Fatalf("link after --drop-stats: %d", resp.StatusCode)
	}
	if resp, b := req(t, "GET", base+"/readyz", "", ""); strings.Contains(b, "degraded") {
		t.Fatalf("readyz after --drop-stats: %d %s", resp.StatusCode, b)
	}
	testwait.For(t, 20*time.Second, "stats counting again", func() bool {
		resp, b := req(t, "GET", base+"/api/v1/links/k2999/stats", key, "")
		return resp.StatusCode == 200 && strings.Contains(b, `"total":1`)
	})
	s.Close()

	// Damage in the links: check says restore a backup; serve refuses.
	if err := os.WriteFile(path, healthy, 0o600); err != nil {
		t.Fatal(err)
	}
	damageBucket(t, path, "links")
	code, stdout, _ = runCmd(t, "check", "--data-dir", dir)
	if code != 1 || !strings.Contains(stdout, `bucket "links"`) || !strings.Contains(stdout, "restore the latest backup") {
		t.Fatalf("check of damaged links: %d\n%s", code, stdout)
	}
	cfg := DefaultServeConfig()
	cfg.Listen, cfg.DataDir, cfg.API.AdminKey = "127.0.0.1:0", dir, key
	cfg.Check()
	srv := &Serve{Config: cfg}
	if err := srv.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "qredge check --data-dir") {
		if err == nil {
			srv.Close()
		}
		t.Fatalf("serve on damaged links: %v", err)
	}
}
