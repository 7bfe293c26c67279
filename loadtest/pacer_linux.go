//go:build linux

package loadtest

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// pacer waits until intended send times. On Linux it waits on a timerfd
// through the runtime's network poller, which wakes when the fd fires:
// measured here about 50 µs late, where a Go timer in an otherwise idle
// process wakes up to a millisecond late (the poller's epoll timeout is in
// milliseconds). Lateness counts as latency, so it matters: at 2000 req/s
// against a local server the median latency was ~680 µs with a Go timer
// and ~140 µs with the timerfd. It costs no CPU while waiting and keeps
// working with GOMAXPROCS=1, unlike spinning or nanosleep.
type pacer struct {
	fd    int      // the timerfd; never f.Fd(), which makes f blocking
	f     *os.File // nil: fall back to timer
	timer *time.Timer
	buf   [8]byte
}

func newPacer() *pacer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &pacer{timer: time.NewTimer(time.Hour)}
	}
	return &pacer{fd: fd, f: os.NewFile(uintptr(fd), "loadtest-timerfd")}
}

// sleep waits for d (> 0).
func (p *pacer) sleep(d time.Duration) {
	if p.f != nil {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if unix.TimerfdSettime(p.fd, 0, &spec, nil) == nil {
			if _, err := p.f.Read(p.buf[:]); err == nil {
				return
			}
		}
		// The timerfd failed; never again.
		p.f.Close()
		p.f = nil
		p.timer = time.NewTimer(time.Hour)
	}
	p.timer.Reset(d)
	<-p.timer.C
}

func (p *pacer) close() {
	if p.f != nil {
		p.f.Close()
	}
	if p.timer != nil {
		p.timer.Stop()
	}
}
