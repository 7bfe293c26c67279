package loadtest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Step is one stretch of the rate profile: Rate requests per second for
// Duration, or, when RampTo is not 0, a linear ramp from Rate to RampTo over
// Duration. A step with Rate 0 and RampTo 0 is idle.
//
// Because RampTo 0 means "constant", a ramp down to nothing is written with
// a tiny RampTo; Ramp and ParseSchedule do that for a target of 0.
type Step struct {
	Rate     float64       // requests per second at the start of the step
	Duration time.Duration // length of the step, > 0
	RampTo   float64       // 0 = constant; else the rate at the end of the step
}

// maxRate bounds a step's rate: far beyond what one process can send, low
// enough to catch a typo.
const maxRate = 10_000_000

// rampToZero stands for a ramp target of 0, which RampTo cannot spell.
const rampToZero = math.SmallestNonzeroFloat64

// end returns the rate at the end of the step.
func (s Step) end() float64 {
	if s.RampTo == 0 {
		return s.Rate
	}
	return s.RampTo
}

// requests returns how many requests the step schedules (not rounded).
func (s Step) requests() float64 {
	return (s.Rate + s.end()) / 2 * s.Duration.Seconds()
}

func (s Step) check() error {
	switch {
	case s.Duration <= 0:
		return fmt.Errorf("duration must be positive, got %s", s.Duration)
	case !(s.Rate >= 0 && s.Rate <= maxRate):
		return fmt.Errorf("rate must be 0..%d requests per second, got %v", maxRate, s.Rate)
	case !(s.RampTo >= 0 && s.RampTo <= maxRate):
		return fmt.Errorf("ramp target must be 0..%d requests per second, got %v", maxRate, s.RampTo)
	}
	return nil
}

// Constant returns a profile of rate requests per second for d.
func Constant(rate float64, d time.Duration) []Step {
	return []Step{{Rate: rate, Duration: d}}
}

// Ramp returns a profile that rises (or falls) linearly from the rate from
// to the rate to over d.
func Ramp(from, to float64, d time.Duration) []Step {
	if to == from {
		return Constant(from, d)
	}
	if to == 0 {
		to = rampToZero
	}
	return []Step{{Rate: from, Duration: d, RampTo: to}}
}

// Spike returns the flash-crowd profile: nothing for idle, then the full
// target rate at once, held for hold. The step is instant, so the target is
// reached within the first second after idle (in the first 1/target s, in
// fact), and the requests are still spaced evenly at 1/target s: a spike is
// a sudden constant rate, not a burst of simultaneous requests.
func Spike(idle time.Duration, target float64, hold time.Duration) []Step {
	var steps []Step
	if idle > 0 {
		steps = append(steps, Step{Duration: idle})
	}
	return append(steps, Step{Rate: target, Duration: hold})
}

// ParseSchedule reads a schedule file: one step per line, "<duration>
// <rate>" for a constant rate or "<duration> <from>..<to>" for a ramp, with
// durations as time.ParseDuration takes them and rates in requests per
// second. Text after '#' and blank lines are ignored. For example:
//
//	# warm up, flash crowd, cool down
//	10s 1000
//	1s  0
//	30s 1000..50000
//	10s 50000..0
//
// An error names the line.
func ParseSchedule(r io.Reader) ([]Step, error) {
	var steps []Step
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		st, err := parseStep(fields)
		if err != nil {
			return nil, fmt.Errorf("schedule line %d %q: %w", n, strings.TrimSpace(sc.Text()), err)
		}
		steps = append(steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read schedule: %w", err)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("schedule has no steps")
	}
	return steps, nil
}

func parseStep(fields []string) (Step, error) {
	if len(fields) != 2 {
		return Step{}, fmt.Errorf("want '<duration> <rate>' or '<duration> <from>..<to>', got %d fields", len(fields))
	}
	d, err := time.ParseDuration(fields[0])
	if err != nil {
		return Step{}, fmt.Errorf("invalid duration: %w", err)
	}
	from, to, ramp := strings.Cut(fields[1], "..")
	rate, err := parseRate(from)
	if err != nil {
		return Step{}, err
	}
	st := Step{Rate: rate, Duration: d}
	if ramp {
		end, err := parseRate(to)
		if err != nil {
			return Step{}, err
		}
		st = Ramp(rate, end, d)[0]
	}
	if err := st.check(); err != nil {
		return Step{}, err
	}
	return st, nil
}

func parseRate(s string) (float64, error) {
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, fmt.Errorf("invalid rate %q: want a number of requests per second >= 0", s)
	}
	return r, nil
}

// scheduleDuration returns the total length of steps.
func scheduleDuration(steps []Step) time.Duration {
	var d time.Duration
	for _, s := range steps {
		d += s.Duration
	}
	return d
}

// clock yields the intended send times of a profile, relative to the start
// of the run. Request k (from 0) is sent when the cumulative number of
// arrivals, the integral of the rate, reaches k+0.5, so a constant rate r
// sends at 0.5/r, 1.5/r, ... and an idle step sends nothing. The times
// depend only on the steps, never on responses: that is what makes the
// generator open loop.
type clock struct {
	steps []Step
	i     int           // current step
	start time.Duration // start of step i
	base  float64       // arrivals before step i
	k     int64         // next request
}

func newClock(steps []Step) *clock {
	return &clock{steps: steps}
}

// next returns the intended send time of the next request, or false when the
// profile is over.
func (c *clock) next() (time.Duration, bool) {
	x := float64(c.k) + 0.5
	for c.i < len(c.steps) {
		st := c.steps[c.i]
		d := st.Duration.Seconds()
		if y := x - c.base; y < st.requests() {
			// Solve r0*t + a*t*t/2 = y for t, in the form that stays
			// exact for a = 0 and avoids cancellation for small a.
			r0 := st.Rate
			a := (st.end() - r0) / d
			var t float64
			if den := r0 + math.Sqrt(max(r0*r0+2*a*y, 0)); den > 0 {
				t = min(2*y/den, d)
			}
			c.k++
			return c.start + time.Duration(t*float64(time.Second)), true
		}
		c.base += st.requests()
		c.start += st.Duration
		c.i++
	}
	return 0, false
}
