package front

import (
	"testing"
	"time"
)

func TestCoarseDeadline(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	var d coarseDeadline
	f := func(at time.Duration, wantSet bool) {
		t.Helper()
		tm := base.Add(at)
		if at < 0 {
			tm = time.Time{}
		}
		if set := !d.skip(tm); set != wantSet {
			t.Fatalf("deadline at %v: set %v, want %v (last %v)", at, set, wantSet, d.last.Sub(base))
		}
	}
	f(10*time.Second, true)                   // the first
	f(10*time.Second+time.Millisecond, false) // a little later: the one in force is early by 1 ms
	f(10*time.Second+deadlineSlack, false)
	f(11*time.Second+time.Millisecond, true) // more than the slack later
	f(5*time.Second, true)                   // earlier: always
	f(-1, true)                              // cleared: always
	f(5*time.Second, true)                   // after a clearing
}
