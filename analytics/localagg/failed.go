package localagg

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/qredge/qredge/store"
)

// Buckets returns the names of the aggregator's buckets in the bbolt file.
func Buckets() []string {
	return []string{string(bucketStats), string(bucketUniq), string(bucketPos), string(bucketScans)}
}

// failure holds the cause of a failed stats store.
type failure struct{ cause error }

// Fail marks the stats store as failed: the aggregator stops counting
// (events wait in the spool), and reads and purges answer
// store.EUNAVAILABLE naming the cause. It is for damage found outside the
// aggregator (the check at start); damage the aggregator meets itself
// fails it the same way. Only the first cause is kept.
func (a *Aggregator) Fail(cause error) {
	if cause == nil {
		return
	}
	if a.failed.CompareAndSwap(nil, &failure{cause}) {
		a.log.Error("the stats store is damaged: stats are off until it is repaired; scans, links and the API go on, and scan events wait in the spool. "+
			"To repair: stop qredge, run 'qredge check --data-dir DIR', then restore a backup or drop the stats with 'qredge check --data-dir DIR --drop-stats' (docs/reliability.md)",
			"err", cause)
	}
}

// Failed returns why the stats store failed, or nil.
func (a *Aggregator) Failed() error {
	if f := a.failed.Load(); f != nil {
		return f.cause
	}
	return nil
}

// unavailable is the error of reads and purges once the store failed.
func (a *Aggregator) unavailable() error {
	err := a.Failed()
	if err == nil {
		return nil
	}
	return store.Errorf(store.EUNAVAILABLE, "the stats store is damaged (%v): stats are unavailable until an operator repairs it (qredge check); redirects and links are not affected", err)
}

// panicError is a panic or memory fault of bbolt on a damaged page.
type panicError struct {
	what  string
	value any
}

func (e *panicError) Error() string {
	return fmt.Sprintf("%s hit a damaged page: %v", e.what, e.value)
}

// guard runs fn, turning a panic or memory fault in it (bbolt reading a
// damaged page) into an error that also fails the store. bbolt rolls the
// transaction back on the way out.
func (a *Aggregator) guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if rec := recover(); rec != nil {
			err = &panicError{what: what, value: rec}
			a.Fail(err)
		}
	}()
	return fn()
}

func isDamage(err error) bool {
	var pe *panicError
	return errors.As(err, &pe)
}
