// Package testwait waits in tests for what happens in the background
// (a server ready, an event counted, a log line written), polling instead
// of sleeping a fixed time that a loaded machine can outlast, and runs
// such background work until the test stops it. Only tests import it.
package testwait

import (
	"sync"
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

// Loop calls body over and over from n goroutines, with the goroutine's
// number (0 to n-1), until body returns false or stop is called. stop
// waits for the goroutines to end; tb's cleanup calls it too, so that
// no goroutine outlives the test.
func Loop(tb testing.TB, n int, body func(g int) bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if !body(g) {
					return
				}
			}
		}()
	}
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
	tb.Cleanup(stop)
	return stop
}
