// Package analyticstest helps the tests and benchmarks of code that
// enqueues scan events. Only tests import it.
package analyticstest

import (
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
)

// Drain empties q from a goroutine, as the pipeline's batcher would,
// until tb's cleanup, which waits for the goroutine to stop. Events are
// dropped. Its loop is written out, not testwait.Loop's closure: the
// benchmarks that drain their queue measured about 5% slower with the
// closure on a 2-core machine (the drain shares the cores with the
// handler), so the figures would not compare with earlier ones.
func Drain(tb testing.TB, q *analytics.Queue) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, ok := q.Dequeue(); !ok {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	tb.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
}
