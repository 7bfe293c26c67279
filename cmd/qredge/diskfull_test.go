package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
)

// mustMountTmpfs mounts a tmpfs of size bytes on a new directory and
// unmounts it at cleanup. It needs root (as the test machines and CI
// have); elsewhere it skips, but under CI it fails.
func mustMountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot mount a tmpfs (needs root): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root; under CI this fails instead): %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillDisk writes a file until the file system under dir is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return path
		}
	}
}

var diskFullDropped = regexp.MustCompile(`qredge_events_dropped_total\{reason="disk_full"\} (\d+)`)

// TestServeDiskFull runs serve on a small tmpfs and fills it: API writes
// answer 507 problem+json naming the full disk, scans still redirect and
// their events are counted as dropped for a full disk; once space is
// freed, writes work again and nothing stored was lost.
func TestServeDiskFull(t *testing.T) {
	mnt := mustMountTmpfs(t, 8<<20)
	const key = "disk-full-admin-key"
	s, _ := mustStartServe(t, filepath.Join(mnt, "data"), func(c *ServeConfig) { c.API.AdminKey = key })
	base := "http://" + s.Addr()
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"before","destination":"https://example.com/before"}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	filler := fillDisk(t, mnt)
	var resp507 string
	for i := 0; i < 200 && resp507 == ""; i++ {
		resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"full`+strconv.Itoa(i)+`","destination":"https://example.com/`+strings.Repeat("x", 1500)+`"}`)
		switch resp.StatusCode {
		case 201:
		case 507:
			if resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(b, `"insufficient_storage"`) || !strings.Contains(b, "disk") {
				t.Fatalf("507 body: %s", b)
			}
			resp507 = b
		default:
			t.Fatalf("create on a full disk: %d %s, want 507", resp.StatusCode, b)
		}
	}
	if resp507 == "" {
		t.Fatal("200 creates on a full disk all succeeded")
	}
	for range 2000 {
		if resp, _ := req(t, "GET", base+"/before", "", ""); resp.StatusCode != 302 {
			t.Fatalf("scan on a full disk: %d", resp.StatusCode)
		}
	}
	testwait.For(t, 10*time.Second, "events dropped for the full disk", func() bool {
		_, m := req(t, "GET", base+"/metrics", "", "")
		d := diskFullDropped.FindStringSubmatch(m)
		return d != nil && d[1] != "0"
	})
	os.Remove(filler)
	if resp, b := req(t, "POST", base+"/api/v1/links", key, `{"code":"after","destination":"https://example.com/after"}`); resp.StatusCode != 201 {
		t.Fatalf("create after freeing space: %d %s", resp.StatusCode, b)
	}
	if resp, _ := req(t, "GET", base+"/api/v1/links/before", key, ""); resp.StatusCode != 200 {
		t.Fatalf("link before the full disk: %d", resp.StatusCode)
	}
}
