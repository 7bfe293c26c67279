package aggregate

import (
	"flag"
	"fmt"
	"time"
)

// RegisterFlags adds --retention-minute, --retention-hour and
// --retention-day, bound to r.
func (r *Retention) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&r[0], "retention-minute", r[0], "how long per-minute stats are kept")
	fs.DurationVar(&r[1], "retention-hour", r[1], "how long per-hour stats are kept")
	fs.DurationVar(&r[2], "retention-day", r[2], "how long per-day stats are kept")
}

// Check returns an error naming the first invalid setting: each
// granularity is kept at least one of its buckets.
func (r *Retention) Check() error {
	for i, f := range []struct {
		name string
		w    time.Duration
	}{{"--retention-minute", time.Minute}, {"--retention-hour", time.Hour}, {"--retention-day", 24 * time.Hour}} {
		if r[i] < f.w {
			return fmt.Errorf("%s must be at least %s", f.name, f.w)
		}
	}
	return nil
}
