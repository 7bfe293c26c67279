// Package testwait waits in tests for what happens in the background
// (a server ready, an event counted, a log line written), polling instead
// of sleeping a fixed time that a loaded machine can outlast. Only tests
// import it.
package testwait

import (
	"testing"
	"time"
)

// For polls cond every 2 ms until it holds, and fails the test, naming
// what it waited for, once d has passed.
func For(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
