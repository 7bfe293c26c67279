// Package testclock is the clock of the tests that handle time.
//
// A test that needs a fixed calendar date takes it from Date (or moves a
// date with Shift) and hands the code under test a clock from At or Now
// through the component's Config.Now. Nothing then depends on the real
// date: data and clock move together.
//
// QREDGE_TEST_CLOCK_OFFSET moves every date this package gives by a
// duration ("-400d", "9600h"). make test runs the packages that handle
// time once more with the dates moved by more than a year back, which is
// what a run more than a year later looks like to a test whose data is
// fixed: code that compares such data with the real clock (Redis key
// expiry, bbolt pruning, a time.Now() the test did not inject) fails that
// run instead of failing on the day its date passes.
//
// It must never be imported by non-test code.
package testclock

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Env is the variable that moves the test clock.
const Env = "QREDGE_TEST_CLOCK_OFFSET"

var (
	offsetOnce sync.Once
	offset     time.Duration
	offsetErr  error
)

// ParseOffset reads an offset: a Go duration ("-9600h", "90m") or a
// whole number of days ("-400d").
func ParseOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: want a duration such as -400d or -9600h", Env, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as -400d or -9600h", Env, s)
	}
	return d, nil
}

// Offset returns how far the test clock is moved from the real one. A
// malformed QREDGE_TEST_CLOCK_OFFSET panics: a run that meant to move the
// clock must not pass silently without moving it.
func Offset() time.Duration {
	offsetOnce.Do(func() { offset, offsetErr = ParseOffset(os.Getenv(Env)) })
	if offsetErr != nil {
		panic(offsetErr)
	}
	return offset
}

// Shift moves a date by the offset.
func Shift(t time.Time) time.Time { return t.Add(Offset()) }

// Date is time.Date in UTC, moved by the offset.
func Date(year int, month time.Month, day, hour, min, sec int) time.Time {
	return Shift(time.Date(year, month, day, hour, min, sec, 0, time.UTC))
}

// Now is the present as the tests see it: the real time moved by the
// offset.
func Now() time.Time { return time.Now().Add(Offset()) }

// Clock is a settable clock, safe for concurrent use. Its Now method is
// what components take as Config.Now.
type Clock struct{ ns atomic.Int64 }

// At returns a clock standing at t.
func At(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
