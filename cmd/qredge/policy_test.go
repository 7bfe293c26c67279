package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// TestPolicyStartupScan stores links, then starts serve with a policy that
// some of them break: each violation is logged, counted in the gauge and
// listed by the API, and the links are left as they are.
func TestPolicyStartupScan(t *testing.T) {
	dir := t.TempDir()
	db, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*store.Link{
		{Code: "fine", Destination: "https://ok.example/"},
		{Code: "denied", Destination: "https://ok.example/", Rules: []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://x.evil.example/"}}},
		{Code: "loop", Destination: "https://go.example/fine"},
	} {
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateLink(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	denyFile := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(denyFile, []byte("# phishing\n\nevil.example # all of it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := "qk_policy_test_admin_key_0123"
	s, logs := mustStartServe(t, dir, func(c *ServeConfig) {
		c.API.PublicURL = "https://go.example"
		c.API.AdminKey = key
		c.Policy.DenyDestinationsFile = denyFile
		c.Policy.AllowHTTP = false
	})
	// The check runs in the background: wait for its summary.
	testwait.For(t, 10*time.Second, "the policy check's summary", func() bool {
		return strings.Contains(logs.String(), "stored links violate the destination policy")
	})
	for _, want := range []string{
		`msg="stored link violates the destination policy; it is left as it is" code=denied domain="" field=rules[0].destination rule="host \"x.evil.example\" is denied by \"evil.example\" in --deny-destinations-file"`,
		`code=loop domain="" field=destination rule="host \"go.example\" is in --public-url: it would redirect to this service itself: a redirect loop"`,
		`links=2 violations=2`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	base := "http://" + s.Addr()
	if _, m := req(t, "GET", base+"/metrics", "", ""); !strings.Contains(m, "qredge_links_policy_violations 2") {
		t.Errorf("metrics lack qredge_links_policy_violations 2")
	}
	resp, body := req(t, "GET", base+"/api/v1/policy/violations", key, "")
	var out struct {
		LinksAtFault int               `json:"links_at_fault"`
		Violations   []store.Violation `json:"violations"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || resp.StatusCode != 200 || out.LinksAtFault != 2 || len(out.Violations) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// The links still redirect: the operator decides what to do.
	if resp, _ := req(t, "GET", base+"/loop", "", ""); resp.StatusCode != 302 {
		t.Fatalf("stored link changed: %d", resp.StatusCode)
	}
	// New writes obey the policy, --allow-http=false included.
	if resp, body := req(t, "POST", base+"/api/v1/links", key, `{"code":"h","destination":"http://ok.example/"}`); resp.StatusCode != 422 || !strings.Contains(body, "--allow-http=false") {
		t.Fatalf("http destination: %d %s", resp.StatusCode, body)
	}
}

func TestPolicyFlagErrors(t *testing.T) {
	f := func(wantOut string, args ...string) {
		t.Helper()
		var stderr bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), wantOut) {
			t.Fatalf("qredge %v: exit %d, output:\n%s", args, code, stderr.String())
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "deny.txt")
	if err := os.WriteFile(file, []byte("# comment\nok.example\nhttps://u@x.example/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f(`--deny-destinations-file `+file+` line 3: deny entry "https://u@x.example/": a URL prefix must not contain user information`, "serve", "--data-dir", dir, "--deny-destinations-file", file)
	f(`--deny-destinations-file: open`, "api", "--redis", "127.0.0.1:1", "--deny-destinations-file", filepath.Join(dir, "missing"))
	t.Setenv("QREDGE_DENY_DESTINATIONS", "ok.example, *.*")
	f(`--deny-destinations: deny entry "*.*": would deny every destination`, "serve", "--data-dir", dir)
}
