package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qredge/qredge/internal/cli/clitest"
)

func TestPolicyConfigFlags(t *testing.T) {
	deny := filepath.Join(t.TempDir(), "deny.txt")
	if err := os.WriteFile(deny, []byte("# comment\n\nfile.example # trailing\nhttps://u@x.example/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(args []string, wantErr string) *DestinationPolicy {
		t.Helper()
		c := DefaultPolicyConfig()
		clitest.Parse(t, c.RegisterFlags, args)
		err := c.Check()
		p, perr := c.NewPolicy("https://go.example")
		if (err == nil) != (perr == nil) {
			t.Fatalf("%v: Check %v, NewPolicy %v", args, err, perr)
		}
		clitest.WantErr(t, args, err, wantErr)
		return p
	}
	p := f([]string{"--deny-destinations", "evil.example, *.bad.example", "--short-domains", "s.example, s2.example:8443", "--allow-http=false"}, "")
	if len(p.Deny) != 2 || len(p.SelfHosts) != 3 || p.SelfHosts[0].Host != "go.example" || p.SelfHosts[0].Source != "--public-url" || !p.RefuseHTTP {
		t.Fatalf("policy %+v", p)
	}
	if p := f(nil, ""); len(p.Deny) != 0 || len(p.SelfHosts) != 1 || p.RefuseHTTP {
		t.Fatalf("default policy %+v", p)
	}
	f([]string{"--deny-destinations", "*.*"}, `--deny-destinations: deny entry "*.*"`)
	f([]string{"--short-domains", "[::1"}, "--short-domains")
	f([]string{"--deny-destinations-file", deny}, "--deny-destinations-file "+deny+" line 4: ")
	f([]string{"--deny-destinations-file", deny + ".missing"}, "--deny-destinations-file: open")
}
