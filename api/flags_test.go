package api

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

func TestConfigFlags(t *testing.T) {
	f := func(args []string, wantRate float64, wantBurst int, wantErr string) {
		t.Helper()
		c := DefaultConfig()
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs, false)
		if err := fs.Parse(args); err != nil {
			if wantErr == "" || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%v: %v, want %q", args, err, wantErr)
			}
			return
		}
		err := c.Check()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%v: error %v, want %q", args, err, wantErr)
		}
		if err == nil && (c.RateLimit != wantRate || c.RateBurst != wantBurst) {
			t.Fatalf("%v: rate %g burst %d, want %g %d", args, c.RateLimit, c.RateBurst, wantRate, wantBurst)
		}
	}
	def := DefaultConfig()
	f(nil, def.RateLimit, def.RateBurst, "")
	f([]string{"--rate-limit", "7", "--rate-burst", "9"}, 7, 9, "")
	f([]string{"--rate-limit", "0"}, -1, def.RateBurst, "")
	f([]string{"--rate-limit", "-3"}, -1, def.RateBurst, "")
	// Both zero: still off (zero was once taken for "flags not given").
	f([]string{"--rate-limit", "0", "--rate-burst", "0"}, -1, 0, "")
	// Whole requests per second, as an int flag.
	f([]string{"--rate-limit", "1.5"}, 0, 0, `invalid value "1.5" for flag -rate-limit: parse error`)
	f([]string{"--rate-limit", "99999999999999999999"}, 0, 0, "value out of range")
	f([]string{"--public-url", "https://go.example.com/"}, def.RateLimit, def.RateBurst, "")
	f([]string{"--public-url", "go.example.com"}, 0, 0, `--public-url "go.example.com": want the scheme and host`)
	f([]string{"--public-url", "https://go.example.com/x"}, 0, 0, "--public-url")
	f([]string{"--api-key", "0123456789abcdef"}, def.RateLimit, def.RateBurst, "")
	f([]string{"--api-key", "short"}, 0, 0, "--api-key must be at least 16 characters")
	f([]string{"--max-body-bytes", "1023"}, 0, 0, "--max-body-bytes 1023: must be at least 1024")
	f([]string{"--max-bulk-body-bytes", "1073741825"}, 0, 0, "--max-bulk-body-bytes 1073741825: must be from 1024 to 1073741824")

	// The help shows the defaults as the int flags did.
	c := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs, true)
	if got := fs.Lookup("rate-limit").DefValue; got != "50" {
		t.Errorf("--rate-limit default %q, want 50", got)
	}
}

// TestAdminKeyFromConfig: the --api-key key has the admin scope and only its hash is
// kept.
func TestAdminKeyFromConfig(t *testing.T) {
	const key = "config-admin-key-0123"
	cfg := DefaultConfig()
	cfg.AdminKey = key
	s := NewServer(cfg, nil, nil)
	if s.cfg.AdminKey != "" || s.cfg.AdminKeyHash != store.HashAPIKey(key) {
		t.Fatalf("server keeps AdminKey %q, hash %q", s.cfg.AdminKey, s.cfg.AdminKeyHash)
	}
}
