package kafka

import (
	"context"
	"sync/atomic"
	"time"
)

// Runner runs a Consumer on its own goroutine, for a process that
// consumes until it is stopped.
type Runner struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan struct{}
	err    atomic.Pointer[error]
}

// Start runs c until Stop.
func (c *Consumer) Start() *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := c.Run(ctx); err != nil {
			r.err.Store(&err)
			c.log.Error("consumer stopped", "err", err)
		}
	}()
	return r
}

// Err is why the consumer stopped by itself (it could not start), or nil.
func (r *Runner) Err() error {
	if p := r.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Readiness is the /readyz answer of a process around the consumer: not
// ready while ping (its store, asked with a 1 s timeout) fails, saying
// down, or once the consumer stopped by itself; else the membership's
// (Membership.Readiness).
func (r *Runner) Readiness(ping func(context.Context) error, down string, paused bool) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := ping(ctx); err != nil {
		return false, down
	}
	if err := r.Err(); err != nil {
		return false, "consumer stopped: " + err.Error()
	}
	return r.c.Membership().Readiness(paused)
}

// Stop leaves the group (the batch in hand is applied or abandoned whole)
// and waits up to timeout for it; it reports whether the consumer stopped
// in time.
func (r *Runner) Stop(timeout time.Duration) bool {
	r.cancel()
	select {
	case <-r.done:
		return true
	case <-time.After(timeout):
		return false
	}
}
