package webhook

import (
	"net/http"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/cli/clitest"
	"github.com/qredge/qredge/internal/testclock"
)

func TestConfigFlags(t *testing.T) {
	f := func(args []string, want func(c *Config) bool, wantErr string) {
		t.Helper()
		c := DefaultConfig()
		clitest.Parse(t, c.RegisterFlags, args)
		clitest.WantErr(t, args, c.Check(), wantErr)
		if wantErr == "" && !want(&c) {
			t.Fatalf("%v: %+v", args, c)
		}
	}
	f(nil, func(c *Config) bool {
		return !c.AllowPrivate && c.Timeout == 10*time.Second && c.GiveUpAfter == 24*time.Hour && c.MaxEvents == 100 && c.OutboxCap == 100000
	}, "")
	f([]string{"--webhook-allow-private", "--webhook-timeout", "3s", "--webhook-give-up-after", "1h", "--webhook-max-events", "500", "--webhook-outbox-cap", "10"},
		func(c *Config) bool {
			return c.AllowPrivate && c.Timeout == 3*time.Second && c.GiveUpAfter == time.Hour && c.MaxEvents == 500 && c.OutboxCap == 10
		}, "")
	f([]string{"--webhook-timeout", "0s"}, nil, "--webhook-timeout must be at least 1ms")
	f([]string{"--webhook-timeout", "1m", "--webhook-give-up-after", "30s"}, nil, "--webhook-give-up-after must be at least --webhook-timeout")
	f([]string{"--webhook-max-events", "0"}, nil, "--webhook-max-events must be between 1 and 10000")
	f([]string{"--webhook-max-events", "10001"}, nil, "--webhook-max-events")
	f([]string{"--webhook-outbox-cap", "0"}, nil, "--webhook-outbox-cap must be at least 1")
}

func TestBackoff(t *testing.T) {
	cfg := DefaultConfig()
	d := &Deliverer{cfg: cfg}
	for attempt := 1; attempt <= 60; attempt++ {
		ceil := cfg.BackoffMax
		if attempt < 10 {
			ceil = min(ceil, cfg.BackoffBase<<(attempt-1))
		}
		for range 20 {
			if b := d.backoff(attempt); b <= 0 || b > ceil {
				t.Fatalf("attempt %d waits %s, want (0, %s]", attempt, b, ceil)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := testclock.Date(2026, 5, 4, 10, 0, 0)
	f := func(v string, want time.Duration) {
		t.Helper()
		if got := parseRetryAfter(v, now); got != want {
			t.Fatalf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
	f("", 0)
	f("120", 2*time.Minute)
	f("-5", 0)
	f("soon", 0)
	f(now.Add(90*time.Second).Format(http.TimeFormat), 90*time.Second)
	f(now.Add(-time.Hour).Format(http.TimeFormat), 0)
}
