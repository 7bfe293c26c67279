package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/qr/qrtest"
)

// TestLinksOneByOne: qredge links create, get, list, update, delete, qr
// and stats against a running serve: tables by default, the API's JSON
// with --json, If-Match honoured, and a non-zero exit with the problem's
// detail on any refusal.
func TestLinksOneByOne(t *testing.T) {
	s, key := mustStartServeFirst(t, t.TempDir())
	base := "http://" + s.Addr()
	t.Setenv("QREDGE_SERVER", base)
	t.Setenv("QREDGE_KEY", key) // the README's variable, read when QREDGE_API_KEY is unset
	links := func(want int, args ...string) (string, string) {
		t.Helper()
		code, out, errb := runCmd(t, append([]string{"links"}, args...)...)
		if code != want {
			t.Fatalf("qredge links %s: exit %d, want %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, want, out, errb)
		}
		return out, errb
	}

	out, _ := links(0, "create", "--code", "spring", "--destination", "https://example.com/a", "--tag", "tv", "--tag", "print",
		"--data", `{"variants":[{"name":"A","destination":"https://example.com/a","weight":70},{"name":"B","destination":"https://example.com/b","weight":30}]}`)
	if !strings.Contains(out, "destination  https://example.com/a") || !strings.Contains(out, "tags         print, tv") || !strings.Contains(out, "short_url    "+base+"/spring") {
		t.Fatalf("create printed:\n%s", out)
	}
	var l struct {
		Code     string
		Version  uint64
		Variants []struct{ Weight int }
	}
	out, _ = links(0, "get", "spring", "--json")
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Code != "spring" || len(l.Variants) != 2 || l.Variants[0].Weight != 70 {
		t.Fatalf("get --json: %v\n%s", err, out)
	}
	out, _ = links(0, "create", "--code", "summer", "--destination", "https://example.com/s", "--title", "Summer poster",
		"--max-scans", "500", "--gone-url", "https://example.com/sold-out", "--data", `{"password":"open sesame"}`)
	for _, want := range []string{"title        Summer poster", "password     yes", "max_scans    500", "gone_url     https://example.com/sold-out"} {
		if !strings.Contains(out, want) {
			t.Fatalf("create with a title, a password, a limit and gone_url printed:\n%s", out)
		}
	}
	if out, _ = links(0, "list", "--q", "summer POSTER"); !strings.Contains(out, "summer") {
		t.Fatalf("list --q by title:\n%s", out)
	}
	if out, _ = links(0, "list", "--q", "SPRING"); !strings.Contains(out, "spring") || strings.Contains(out, "summer") || !strings.HasPrefix(out, "CODE") {
		t.Fatalf("list --q SPRING:\n%s", out)
	}
	if out, _ = links(0, "list", "--json", "--all"); strings.Count(out, "\n") != 2 {
		t.Fatalf("list --json --all: want 2 JSON lines:\n%s", out)
	}

	// If-Match: a stale version is refused, the current one goes through.
	links(0, "update", "spring", "--status", "301") // someone else's change
	_, errb := links(1, "update", "spring", "--destination", "https://example.com/new", "--if-match", jsonVersion(l.Version))
	if !strings.Contains(errb, "412") {
		t.Fatalf("a stale --if-match: %s", errb)
	}
	out, _ = links(0, "get", "spring", "--json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	out, _ = links(0, "update", "spring", "--destination", "https://example.com/new", "--disabled=true", "--if-match", jsonVersion(l.Version))
	if !strings.Contains(out, "destination  https://example.com/new") || !strings.Contains(out, "disabled     true") {
		t.Fatalf("update printed:\n%s", out)
	}
	links(0, "update", "spring", "--disabled=false")

	// The QR image, and the stats of a scan of it.
	file := filepath.Join(t.TempDir(), "spring.png")
	links(0, "qr", "spring", "-o", file, "--size", "256")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if text, err := qrtest.Decode(img); err != nil || text != base+"/spring?q" {
		t.Fatalf("the QR file reads %q (%v)", text, err)
	}
	if resp, _ := req(t, "GET", base+"/spring?q", "", ""); resp.StatusCode >= 400 {
		t.Fatalf("scan: %d", resp.StatusCode)
	}
	testwait.For(t, 10*time.Second, "the scan in the stats", func() bool {
		out, _ := links(0, "stats", "spring")
		return strings.Contains(out, "scans            1") && strings.Contains(out, "source           qr 1")
	})

	// Refusals exit 1 with the problem's detail.
	links(0, "delete", "spring")
	if _, errb = links(1, "get", "spring"); !strings.Contains(errb, "404") || !strings.Contains(errb, "spring") {
		t.Fatalf("get of a deleted link: %s", errb)
	}
	if _, errb = links(1, "create", "--code", "bad code", "--destination", "https://example.com/"); !strings.Contains(errb, "422") || !strings.Contains(errb, "code") {
		t.Fatalf("an invalid create: %s", errb)
	}
	if _, errb = links(1, "get", "summer", "--api-key", "qk_wrong_key_000000000"); !strings.Contains(errb, "401") {
		t.Fatalf("a wrong key: %s", errb)
	}
	t.Setenv("QREDGE_SERVER", "")
	if _, errb = links(1, "get", "summer"); !strings.Contains(errb, "--server URL") {
		t.Fatalf("no server: %s", errb)
	}
}

func jsonVersion(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLinksImportUpsert: importing a changed file again with --upsert
// updates the links that exist (keeping their creation time) and creates
// the new ones, into a data directory and through a server alike.
func TestLinksImportUpsert(t *testing.T) {
	first := writeFile(t, "v1.csv", "code,destination,tags\nup1,https://example.com/1,spring\nup2,https://example.com/2,spring\n")
	second := writeFile(t, "v2.csv", "code,destination\nup1,https://example.com/one\nup3,https://example.com/3\n")
	dir := t.TempDir()
	mustRunLinks(t, "import", first, "--data-dir", dir)
	if out := mustRunLinks(t, "import", second, "--data-dir", dir, "--upsert"); !strings.HasPrefix(out, "imported 1 links, 1 updated, 0 failed") {
		t.Fatalf("upsert into the data dir: %q", out)
	}
	code, out, _ := runLinksCmd(t, "import", second, "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "imported 0 links, 2 failed") {
		t.Fatalf("again without --upsert: exit %d, %q", code, out)
	}
	if code, _, errb := runLinksCmd(t, "import", second, "--data-dir", dir, "--upsert", "--atomic"); code == 0 || !strings.Contains(errb, "--upsert goes with neither --atomic") {
		t.Fatalf("--upsert --atomic: exit %d, %s", code, errb)
	}

	s, key := mustStartServeFirst(t, t.TempDir())
	base := "http://" + s.Addr()
	mustRunLinks(t, "import", first, "--server", base, "--api-key", key)
	_, before := req(t, "GET", base+"/api/v1/links/up1", key, "")
	if out := mustRunLinks(t, "import", second, "--server", base, "--api-key", key, "--upsert"); !strings.HasPrefix(out, "imported 1 links, 1 updated, 0 failed") {
		t.Fatalf("upsert through the server: %q", out)
	}
	_, after := req(t, "GET", base+"/api/v1/links/up1", key, "")
	var b, a struct {
		Destination string
		Tags        []string
		CreatedAt   string `json:"created_at"`
	}
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil ||
		a.Destination != "https://example.com/one" || len(a.Tags) != 0 || a.CreatedAt != b.CreatedAt {
		t.Fatalf("up1 before %s\nafter %s: want the new destination, no tags (the row has none) and the same created_at", before, after)
	}
}
