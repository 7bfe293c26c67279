// Package analyticstest helps the tests and benchmarks of code that
// enqueues scan events. Only tests import it.
package analyticstest

import (
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/testwait"
)

// Drain empties q from a goroutine, as the pipeline's batcher would,
// until tb's cleanup, which waits for the goroutine to stop. Events are
// dropped.
func Drain(tb testing.TB, q *analytics.Queue) {
	testwait.Loop(tb, 1, func(int) bool {
		if _, ok := q.Dequeue(); !ok {
			time.Sleep(50 * time.Microsecond)
		}
		return true
	})
}
