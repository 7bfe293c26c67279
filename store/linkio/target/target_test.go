package target

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestCheckWantsExactlyOneTarget: none, two, or a malformed one is
// refused with the flag named; one well-formed target passes.
func TestCheckWantsExactlyOneTarget(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		export  bool
		wantErr string // "" for valid
	}{
		{nil, false, "give exactly one of --server URL, --data-dir DIR and --redis ADDR"},
		{[]string{"--api", "http://x:8080", "--data-dir", "d"}, false, "give exactly one of"},
		{[]string{"--data-dir", "d", "--from-edge", "http://e:9090"}, true, "and --from-edge URL"},
		{[]string{"--api", "localhost:8080", "--api-key", "k"}, false, `--server "localhost:8080": want a URL`},
		{[]string{"--api", "http://localhost:8080"}, false, "--server needs an API key"},
		{[]string{"--from-edge", "10.0.0.5:9090"}, true, "--from-edge \"10.0.0.5:9090\": want the URL of an edge's admin listener"},
		{[]string{"--redis", "127.0.0.1:6379", "--redis-prefix", ""}, false, "--redis-prefix must not be empty"},
		{[]string{"--api", "https://go.example.com/", "--api-key", "k"}, false, ""},
		{[]string{"--data-dir", "d"}, false, ""},
		{[]string{"--from-edge", "http://10.0.0.5:9090"}, true, ""},
	} {
		fs := flag.NewFlagSet("links", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c Config
		c.RegisterFlags(fs, tc.export)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: parse: %v", tc.args, err)
		}
		err := c.Check()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: Check = %v, want nil", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: Check = %v, want an error with %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestImportHasNoFromEdge: only an export reads an edge's table.
func TestImportHasNoFromEdge(t *testing.T) {
	fs := flag.NewFlagSet("links import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	c.RegisterFlags(fs, false)
	if fs.Lookup("from-edge") != nil {
		t.Fatal("links import registers --from-edge")
	}
}

// TestServerAndItsOlderName: --server and --api name the same setting.
func TestServerAndItsOlderName(t *testing.T) {
	for _, name := range []string{"--server", "--api"} {
		fs := flag.NewFlagSet("links", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var c Config
		c.RegisterFlags(fs, false)
		if err := fs.Parse([]string{name, "http://localhost:8080", "--api-key", "k"}); err != nil {
			t.Fatal(err)
		}
		if c.API != "http://localhost:8080" || c.Check() != nil {
			t.Fatalf("%s: API %q, Check %v", name, c.API, c.Check())
		}
	}
}
