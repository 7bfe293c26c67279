//go:build linux

package loadtest

import (
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pacer is a worker's epoll set of connections and its timer. The worker
// sleeps on the timer alone, a timerfd in Go's network poller, until the
// next intended send time or for at least one tick (Config.Tick) while it
// has work; then one epoll_wait that does not block collects every
// connection that became ready meanwhile. Responses do not wake the worker
// one by one: on this 2-core VM each wake-up costs the sender of the data a
// cross-CPU interrupt and the sleeper a switch, more than the request
// itself. Their arrival times come from the kernel (SO_TIMESTAMPNS), so
// reading them up to a tick late does not add to the latency measured.
//
// A timerfd wakes within microseconds, where a Go timer in an idle process
// may wake up to a millisecond late (the runtime's poller sleeps in
// milliseconds). The worker parks on it like any network read; blocking in a
// system call instead costs more than the requests, as the runtime's
// monitor takes the P away after 20 µs and keeps waking every 20 µs while
// that happens often.
type pacer struct {
	epfd   int // the connections, outside Go's network poller
	tfd    int
	tf     *os.File // tfd, in Go's network poller
	trc    syscall.RawConn
	fire   func(fd uintptr) bool // reads the timerfd: false until it fired; allocated once
	armed  time.Duration         // the timer's expiry since the start; 0: not armed or fired
	real0  int64                 // CLOCK_REALTIME, in ns, at the start of the run
	events []unix.EpollEvent
	tbuf   [8]byte
}

func newPacer(events int) (*pacer, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cannot create an epoll set: %w", err)
	}
	p := &pacer{epfd: epfd, tfd: -1, events: make([]unix.EpollEvent, events)}
	if p.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		p.close()
		return nil, fmt.Errorf("cannot create a timerfd: %w", err)
	}
	p.tf = os.NewFile(uintptr(p.tfd), "loadtest-timerfd")
	if p.trc, err = p.tf.SyscallConn(); err != nil {
		p.close()
		return nil, fmt.Errorf("cannot poll the timerfd: %w", err)
	}
	p.fire = func(uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(p.tfd), uintptr(unsafe.Pointer(&p.tbuf[0])), 8)
		return e != unix.EAGAIN
	}
	return p, nil
}

// begin ties the pacer's clock to start, the run's start.
func (p *pacer) begin(start time.Time) {
	t := time.Now()
	p.real0 = t.UnixNano() - int64(t.Sub(start))
}

// arrival converts a kernel receive timestamp (CLOCK_REALTIME) to the time
// since the start of the run.
func (p *pacer) arrival(stamp int64) time.Duration {
	return time.Duration(stamp - p.real0)
}

func (p *pacer) add(fd int, index int32, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: index}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (p *pacer) modify(fd int, index int32, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: index}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// ready returns the events of the connections ready now, without waiting.
func (p *pacer) ready() []unix.EpollEvent {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(p.epfd), uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	if e != 0 {
		return nil
	}
	return p.events[:n]
}

// sleep waits until wake (since the start of the run; now is the current
// time). It may return early.
func (p *pacer) sleep(now, wake time.Duration) {
	if wake <= now {
		return
	}
	if p.armed == 0 || p.armed > wake {
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(wake - now))}
		if err := unix.TimerfdSettime(p.tfd, 0, &spec, nil); err != nil {
			time.Sleep(wake - now) // cannot happen; late rather than never
			return
		}
		p.armed = wake
	}
	if p.trc.Read(p.fire) == nil {
		p.armed = 0
	}
}

func (p *pacer) close() {
	if p.tf != nil {
		p.tf.Close()
	} else if p.tfd >= 0 {
		unix.Close(p.tfd)
	}
	unix.Close(p.epfd)
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
