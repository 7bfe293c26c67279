package aggregate

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRetentionFlags(t *testing.T) {
	f := func(args []string, want Retention, wantErr string) {
		t.Helper()
		r := DefaultRetention()
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		r.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		err := r.Check()
		if wantErr == "" && (err != nil || r != want) || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%v: %v, error %v; want %v, %q", args, r, err, want, wantErr)
		}
	}
	f(nil, DefaultRetention(), "")
	f([]string{"--retention-minute", "1m", "--retention-hour", "2h", "--retention-day", "48h"}, Retention{time.Minute, 2 * time.Hour, 48 * time.Hour}, "")
	f([]string{"--retention-minute", "59s"}, Retention{}, "--retention-minute must be at least 1m0s")
	f([]string{"--retention-hour", "59m"}, Retention{}, "--retention-hour must be at least 1h0m0s")
	f([]string{"--retention-day", "23h"}, Retention{}, "--retention-day must be at least 24h0m0s")
}
