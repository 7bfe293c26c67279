package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/qredge/qredge/api"
)

// TestCLIAPIFlags: serve and api register the API's flags (api.Config's,
// tested in api/flags_test.go) and start from the API's defaults.
func TestCLIAPIFlags(t *testing.T) {
	def := api.DefaultConfig()
	// The commands' default configurations carry the API's defaults.
	for name, c := range map[string]api.Config{"serve": DefaultServeConfig().API, "api": DefaultAPIConfig().API} {
		if c.RateLimit != def.RateLimit || c.RateBurst != def.RateBurst || c.MaxBodyBytes != def.MaxBodyBytes || c.MaxBulkBodyBytes != def.MaxBulkBodyBytes {
			t.Errorf("%s: default rate %g burst %d body %d bulk %d, want %g %d %d %d", name, c.RateLimit, c.RateBurst, c.MaxBodyBytes, c.MaxBulkBodyBytes,
				def.RateLimit, def.RateBurst, def.MaxBodyBytes, def.MaxBulkBodyBytes)
		}
	}
	// Both commands that serve the API have the flags, bound to the
	// configuration they start the API with.
	serve, apiCmd := DefaultServeConfig(), DefaultAPIConfig()
	for name, c := range map[string]struct {
		register func(flagRegistrar)
		api      *api.Config
	}{"serve": {serve.RegisterFlags, &serve.API}, "api": {apiCmd.RegisterFlags, &apiCmd.API}} {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.register(fs)
		if err := fs.Parse([]string{"--rate-limit", "0", "--rate-burst", "9", "--api-key", "0123456789abcdef", "--max-body-bytes", "2048"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.api.RateLimit != -1 || c.api.RateBurst != 9 || c.api.AdminKey != "0123456789abcdef" || c.api.MaxBodyBytes != 2048 {
			t.Errorf("%s: flags not bound to the API's configuration: %+v", name, *c.api)
		}
	}
}

// TestCLILinksImportRateLimited: 'qredge links import --api' waits as the
// API's 429 answers say instead of failing.
func TestCLILinksImportRateLimited(t *testing.T) {
	const key = "rate-test-admin-key-0123"
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.API.AdminKey = key
		c.API.RateLimit, c.API.RateBurst = 1, 1
	})
	file := writeFile(t, "r.csv", "code,destination\nr1,https://a.example/\nr2,https://a.example/\n")
	// Without the retry the second chunk would get 429: the burst is 1.
	if out := mustRunLinks(t, "import", file, "--api", "http://"+s.Addr(), "--api-key", key, "--chunk", "1"); !strings.HasPrefix(out, "imported 2 links, 0 failed") {
		t.Fatal(out)
	}
}
