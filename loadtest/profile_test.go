package loadtest

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	ok := func(text string, want []Step) {
		t.Helper()
		got, err := ParseSchedule(strings.NewReader(text))
		if err != nil {
			t.Fatalf("ParseSchedule(%q): %v", text, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseSchedule(%q) = %+v, want %+v", text, got, want)
		}
	}
	ok("10s 1000", []Step{{Rate: 1000, Duration: 10 * time.Second}})
	ok("# flash crowd\n\n1s 0\n  30s\t1000..50000  # ramp\n500ms 2.5\n10s 50000..0\n", []Step{
		{Duration: time.Second},
		{Rate: 1000, Duration: 30 * time.Second, RampTo: 50000},
		{Rate: 2.5, Duration: 500 * time.Millisecond},
		{Rate: 50000, Duration: 10 * time.Second, RampTo: rampToZero},
	})
	ok("1m 0..100\r\n", []Step{{Duration: time.Minute, RampTo: 100}})
	ok("2s 7..7", []Step{{Rate: 7, Duration: 2 * time.Second}})

	bad := func(text, want string) {
		t.Helper()
		_, err := ParseSchedule(strings.NewReader(text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("ParseSchedule(%q): error %v, want one containing %q", text, err, want)
		}
	}
	bad("", "no steps")
	bad("# only a comment\n", "no steps")
	bad("10s 1000\n10x 5\n", `line 2 "10x 5": invalid duration`)
	bad("10s 1000\n\n10s\n", `line 3 "10s": want '<duration> <rate>'`)
	bad("10s 1000 2000", "line 1")
	bad("10s -5", `line 1 "10s -5": invalid rate "-5"`)
	bad("10s abc", `invalid rate "abc"`)
	bad("10s 1..", `invalid rate ""`)
	bad("10s ..5", `invalid rate ""`)
	bad("10s NaN", `invalid rate "NaN"`)
	bad("10s Inf", `invalid rate "Inf"`)
	bad("0s 5", "line 1 \"0s 5\": duration must be positive")
	bad("-1s 5", "duration must be positive")
}

// perSecond runs the clock of steps and counts the requests per second.
func perSecond(steps []Step) []int {
	c := newClock(steps)
	counts := make([]int, int(math.Ceil(scheduleDuration(steps).Seconds())))
	last := time.Duration(-1)
	for {
		at, ok := c.next()
		if !ok {
			return counts
		}
		if at < last {
			panic("BUG: clock went backwards")
		}
		last = at
		counts[min(int(at/time.Second), len(counts)-1)]++
	}
}

func TestClock(t *testing.T) {
	f := func(steps []Step, want []int) {
		t.Helper()
		if got := perSecond(steps); !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: per second %v, want %v", steps, got, want)
		}
	}
	f(Constant(2000, 2*time.Second), []int{2000, 2000})
	f(Constant(0.5, 4*time.Second), []int{0, 1, 0, 1})
	f(Spike(time.Second, 1000, 2*time.Second), []int{0, 1000, 1000})
	f(Spike(2*time.Second, 50000, time.Second), []int{0, 0, 50000})
	f(Ramp(0, 1000, 2*time.Second), []int{250, 750})
	f(Ramp(1000, 0, 2*time.Second), []int{750, 250})
	f(Ramp(1000, 3000, 2*time.Second), []int{1500, 2500})
	f(append(Constant(100, time.Second), Ramp(100, 300, time.Second)...), []int{100, 200})
	f([]Step{{Duration: time.Second}}, []int{0})

	// A constant rate is evenly spaced: request k at (k+0.5)/rate.
	c := newClock(Constant(4, time.Second))
	for k, want := range []time.Duration{125 * time.Millisecond, 375 * time.Millisecond, 625 * time.Millisecond, 875 * time.Millisecond} {
		if at, _ := c.next(); at != want {
			t.Errorf("request %d at %s, want %s", k, at, want)
		}
	}
	if _, ok := c.next(); ok {
		t.Errorf("the clock goes on after the profile")
	}
}

func FuzzParseSchedule(f *testing.F) {
	f.Add("10s 1000\n30s 1000..50000\n# c\n")
	f.Add("1s 0..0")
	f.Add("1h 1e300..1e-300")
	f.Fuzz(func(t *testing.T, text string) {
		steps, err := ParseSchedule(strings.NewReader(text))
		if err != nil {
			return
		}
		if len(steps) == 0 {
			t.Fatalf("no steps and no error")
		}
		for i, s := range steps {
			if err := s.check(); err != nil {
				t.Fatalf("step %d %+v accepted but invalid: %v", i, s, err)
			}
		}
		// The clock is monotonic and finite over a short prefix.
		c := newClock(steps)
		last := time.Duration(-1)
		for range 1000 {
			at, ok := c.next()
			if !ok {
				break
			}
			if at < last || at > scheduleDuration(steps) {
				t.Fatalf("clock gave %s after %s, profile %s long", at, last, scheduleDuration(steps))
			}
			last = at
		}
	})
}
