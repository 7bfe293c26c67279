//go:build !linux

package loadtest

import (
	"errors"
	"time"
)

// The generator drives its connections with epoll and a timerfd (see
// pacer_linux.go); elsewhere Run refuses to start.
type worker struct {
	col       *collector
	cancelled bool
}

func newWorker(r *runner, id, n, conns int) (*worker, error) {
	return nil, errors.New("qredge loadtest run needs Linux: it drives its connections with epoll")
}

func (w *worker) run(start time.Time) {}

func (w *worker) close() {}

func processCPU() time.Duration { return 0 }
