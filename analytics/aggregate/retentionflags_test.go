package aggregate

import (
	"testing"
	"time"

	"github.com/qredge/qredge/internal/cli/clitest"
)

func TestRetentionFlags(t *testing.T) {
	f := func(args []string, want Retention, wantErr string) {
		t.Helper()
		r := DefaultRetention()
		clitest.Parse(t, r.RegisterFlags, args)
		clitest.WantErr(t, args, r.Check(), wantErr)
		if wantErr == "" && r != want {
			t.Fatalf("%v: %v, want %v", args, r, want)
		}
	}
	f(nil, DefaultRetention(), "")
	f([]string{"--retention-minute", "1m", "--retention-hour", "2h", "--retention-day", "48h"}, Retention{time.Minute, 2 * time.Hour, 48 * time.Hour}, "")
	f([]string{"--retention-minute", "59s"}, Retention{}, "--retention-minute must be at least 1m0s")
	f([]string{"--retention-hour", "59m"}, Retention{}, "--retention-hour must be at least 1h0m0s")
	f([]string{"--retention-day", "23h"}, Retention{}, "--retention-day must be at least 24h0m0s")
}
