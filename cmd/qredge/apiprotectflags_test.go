package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/qredge/qredge/api"
)

func TestCLIRateLimitFlags(t *testing.T) {
	f := func(args []string, wantRate float64, wantBurst int) {
		t.Helper()
		c := defaultAPIProtectFlags()
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg := api.DefaultConfig()
		c.apply(&cfg)
		if cfg.RateLimit != wantRate || cfg.RateBurst != wantBurst {
			t.Fatalf("%v: rate %g burst %d, want %g %d", args, cfg.RateLimit, cfg.RateBurst, wantRate, wantBurst)
		}
	}
	def := api.DefaultConfig()
	f(nil, def.RateLimit, def.RateBurst)
	f([]string{"--rate-limit", "7", "--rate-burst", "9"}, 7, 9)
	f([]string{"--rate-limit", "0"}, -1, def.RateBurst)
	// Both zero: still off (zero was once taken for "flags not given").
	f([]string{"--rate-limit", "0", "--rate-burst", "0"}, -1, 0)
	// The commands' default configurations carry the API's defaults.
	for name, c := range map[string]apiProtectFlags{"serve": DefaultServeConfig().Protect, "api": DefaultAPIConfig().Protect} {
		cfg := api.Config{}
		c.apply(&cfg)
		if cfg.RateLimit != def.RateLimit || cfg.RateBurst != def.RateBurst {
			t.Errorf("%s: default rate %g burst %d, want %g %d", name, cfg.RateLimit, cfg.RateBurst, def.RateLimit, def.RateBurst)
		}
	}
	// Both commands that serve the API have the flags.
	for name, register := range map[string]func(flagRegistrar){
		"serve": func(fs flagRegistrar) { c := DefaultServeConfig(); c.registerFlags(fs) },
		"api":   func(fs flagRegistrar) { c := DefaultAPIConfig(); c.registerFlags(fs) },
	} {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		register(fs)
		if fs.Lookup("rate-limit") == nil || fs.Lookup("rate-burst") == nil {
			t.Errorf("%s has no --rate-limit or --rate-burst", name)
		}
	}
}

// TestCLILinksImportRateLimited: 'qredge links import --api' waits as the
// API's 429 answers say instead of failing.
func TestCLILinksImportRateLimited(t *testing.T) {
	const key = "rate-test-admin-key-0123"
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.APIKey = key
		c.Protect = apiProtectFlags{RateLimit: 1, RateBurst: 1}
	})
	file := writeFile(t, "r.csv", "code,destination\nr1,https://a.example/\nr2,https://a.example/\n")
	// Without the retry the second chunk would get 429: the burst is 1.
	if out := mustRunLinks(t, "import", file, "--api", "http://"+s.Addr(), "--api-key", key, "--chunk", "1"); !strings.HasPrefix(out, "imported 2 links, 0 failed") {
		t.Fatal(out)
	}
}
