//go:build linux

package loadtest

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Connection states.
const (
	connClosed     = iota
	connConnecting // a request waits for the connect to finish
	connIdle
	connBusy // a request is in flight
)

// conn is one connection of a worker, a non-blocking socket outside Go's
// network poller. It carries at most one request at a time.
type conn struct {
	fd     int
	state  uint8
	head   bool // the response head is read; body bytes follow
	close  bool // the server closes after this response
	pos    int32
	status int
	n      int // head bytes in buf
	body   int // body bytes still to come
	j      job
	sentAt time.Duration
	buf    []byte // the response head, headMax bytes
}

// worker sends its share of the requests, request k of the run for every k
// with k%n == id, each at its intended time, over its own connections, and
// reads the responses, all on one goroutine: no hand-off, no timer and no
// allocation per request.
type worker struct {
	r     *runner
	id, n uint64
	k     uint64 // the next request of the run (of any worker)
	clk   *clock
	mix   *mixer
	col   *collector
	p     *pacer
	conns []conn
	idle  []int32 // idle connections; conn.pos is the index here
	free  []int32 // closed connections, to open on demand
	busy  int     // connections connecting or busy

	j         job  // the next request, not yet sent
	pending   bool // j holds one
	counted   bool // j's intended time has come and it is counted
	over      bool // no more requests
	cancelled bool // the run's context ended before the schedule
	nextScan  time.Duration
	family    int
	sa        unix.Sockaddr
	wbuf      []byte
	scratch   []byte
	// recvmsg's arguments, for the receive timestamp: set up once.
	msg  unix.Msghdr
	iov  unix.Iovec
	ctrl [64]byte
}

func newWorker(r *runner, id, n, conns int) (*worker, error) {
	p, err := newPacer(min(conns+1, 256))
	if err != nil {
		return nil, err
	}
	w := &worker{
		r: r, id: uint64(id), n: uint64(n),
		nextScan: -1,
		clk:      newClock(r.cfg.Schedule),
		mix:      r.mix.clone(),
		col:      newCollector(),
		p:        p,
		conns:    make([]conn, conns),
		idle:     make([]int32, 0, conns),
		free:     make([]int32, 0, conns),
		wbuf:     make([]byte, 0, 1024),
		scratch:  make([]byte, 16<<10),
	}
	w.msg.Iov = &w.iov
	w.msg.Iovlen = 1
	w.msg.Control = &w.ctrl[0]
	for i := conns - 1; i >= 0; i-- {
		w.free = append(w.free, int32(i))
	}
	if ip4 := r.addr.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: r.addr.Port}
		copy(sa.Addr[:], ip4)
		w.family, w.sa = unix.AF_INET, sa
	} else {
		sa := &unix.SockaddrInet6{Port: r.addr.Port}
		copy(sa.Addr[:], r.addr.IP.To16())
		w.family, w.sa = unix.AF_INET6, sa
	}
	return w, nil
}

// scanEvery is how often in-flight requests are checked against the
// timeout, at most.
func (w *worker) scanEvery() time.Duration {
	return min(max(w.r.cfg.Timeout/10, time.Millisecond), 10*time.Millisecond)
}

// maxSleep bounds one wait, so that a worker notices a cancelled context.
const maxSleep = 50 * time.Millisecond

// run is the worker's loop: collect what is ready, send what is due, sleep
// until the next request is due or for a tick while requests are in flight.
// (Reading responses only when waking to send, since their arrival times
// come from the kernel, measured no cheaper: at rates under one request per
// tick every send is a wake-up anyway.)
func (w *worker) run(start time.Time) {
	w.p.begin(start)
	tick := w.r.cfg.Tick
	for {
		for _, ev := range w.p.ready() {
			w.ready(ev.Fd, ev.Events)
		}
		now := w.r.now()
		if !w.over && w.r.stopping.Load() {
			w.cancel(now)
		}
		now = w.send(now)
		if w.over && !w.pending && w.busy == 0 {
			return
		}
		if w.busy > 0 && now >= w.nextScan {
			w.expire(now)
			w.nextScan = now + w.scanEvery()
		}
		wake := now + maxSleep
		if w.pending {
			if len(w.idle) > 0 || len(w.free) > 0 {
				wake = min(wake, w.j.at)
			} else {
				wake = min(wake, w.j.at+w.r.cfg.BacklogTimeout+1)
			}
		}
		if w.busy > 0 {
			wake = now + tick // read the responses
		}
		w.p.sleep(now, max(wake, now+tick))
	}
}

// cancel ends the schedule early: the request due but not sent is
// counted as cancelled.
func (w *worker) cancel(now time.Duration) {
	w.over, w.cancelled = true, true
	if w.pending && w.counted {
		w.col.record(now, &outcome{kind: KindCancelled})
	}
	w.pending = false
}

// next sets j to this worker's next request, or returns false.
func (w *worker) next() bool {
	for {
		at, ok := w.clk.next()
		if !ok {
			return false
		}
		k := w.k
		w.k++
		if k%w.n == w.id {
			w.mix.draw(k, &w.j)
			w.j.at = at
			return true
		}
	}
}

// send sends every request that is due, while a connection is free; one
// that has waited longer than the backlog timeout is counted as a backlog
// error instead. It returns the current time.
func (w *worker) send(now time.Duration) time.Duration {
	for {
		if !w.pending {
			if w.over || !w.next() {
				w.over = true
				return now
			}
			w.pending, w.counted = true, false
		}
		if w.j.at > now {
			return now
		}
		if !w.counted {
			w.r.intended[second(w.j.at, len(w.r.intended))].Add(1)
			w.counted = true
		}
		if now-w.j.at > w.r.cfg.BacklogTimeout {
			w.col.record(now, &outcome{kind: KindBacklog})
			w.pending = false
			continue
		}
		var ci int32
		switch {
		case len(w.idle) > 0:
			ci = w.idle[len(w.idle)-1]
			w.idle = w.idle[:len(w.idle)-1]
		case len(w.free) > 0:
			ci = w.free[len(w.free)-1]
			w.free = w.free[:len(w.free)-1]
		default:
			return now // every connection busy: j waits
		}
		w.pending = false
		c := &w.conns[ci]
		c.j = w.j
		now = w.r.now()
		c.sentAt = now
		w.r.sent[second(now, len(w.r.sent))].Add(1)
		w.busy++
		if c.state == connClosed {
			if !w.dial(ci) {
				continue
			}
			if c.state == connConnecting {
				continue // the request goes when the connection is up
			}
		}
		w.write(ci)
	}
}

// dial opens connection ci; false if that failed (and was counted).
func (w *worker) dial(ci int32) bool {
	c := &w.conns[ci]
	fd, err := unix.Socket(w.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		w.fail(ci, KindConnection)
		return false
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	c.fd = fd
	c.state = connConnecting
	if c.buf == nil {
		c.buf = make([]byte, headMax)
	}
	w.r.opened()
	err = unix.Connect(fd, w.sa)
	switch err {
	case nil:
		c.state = connIdle
		err = w.p.add(fd, ci, unix.EPOLLIN|unix.EPOLLRDHUP)
	case unix.EINPROGRESS:
		err = w.p.add(fd, ci, unix.EPOLLOUT)
	}
	if err != nil {
		w.fail(ci, KindConnection)
		return false
	}
	return true
}

// connected finishes the connect of ci and sends its request.
func (w *worker) connected(ci int32) {
	c := &w.conns[ci]
	if e, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || e != 0 ||
		w.p.modify(c.fd, ci, unix.EPOLLIN|unix.EPOLLRDHUP) != nil {
		w.fail(ci, KindConnection)
		return
	}
	w.write(ci)
}

// write sends the request of ci.
func (w *worker) write(ci int32) {
	c := &w.conns[ci]
	w.wbuf = w.r.enc.encode(w.wbuf, &c.j)
	n, err := rawWrite(c.fd, w.wbuf)
	for err == unix.EINTR {
		n, err = rawWrite(c.fd, w.wbuf)
	}
	// A request is far smaller than a socket buffer with nothing else in
	// it: a short write means the connection is broken.
	if err != 0 || n != len(w.wbuf) {
		w.fail(ci, KindConnection)
		return
	}
	c.state, c.head, c.close, c.n = connBusy, false, false, 0
}

// ready handles an event of connection ci.
func (w *worker) ready(ci int32, events uint32) {
	c := &w.conns[ci]
	switch c.state {
	case connConnecting:
		w.connected(ci)
	case connBusy:
		w.read(ci)
	case connIdle:
		// The server closed an idle connection (or sent what nobody
		// asked for): close it; the next request opens another.
		n, err := rawRead(c.fd, w.scratch)
		if err != unix.EAGAIN || n > 0 || events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			w.removeIdle(ci)
			w.closeConn(ci)
		}
	}
}

// read reads what has come of ci's response.
func (w *worker) read(ci int32) {
	c := &w.conns[ci]
	for {
		buf := w.scratch
		if !c.head {
			buf = c.buf[c.n:]
		}
		n, stamp, err := w.recv(c.fd, buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			return
		case err != 0 || n == 0: // reset, or closed before the response
			w.fail(ci, KindConnection)
			return
		}
		if !c.head {
			c.n += n
			end := headEnd(c.buf[:c.n], c.n-n)
			if end < 0 {
				if c.n == len(c.buf) {
					w.fail(ci, KindConnection) // a response head over headMax
					return
				}
				if n < len(buf) {
					return
				}
				continue
			}
			status, length, closing, err := parseHead(c.buf[:end])
			if err != nil {
				w.fail(ci, KindConnection)
				return
			}
			c.head, c.status, c.close = true, status, closing
			c.body = length - (c.n - end)
		} else {
			c.body -= n
		}
		if c.body < 0 {
			w.fail(ci, KindConnection) // bytes after the response (no pipelining here)
			return
		}
		if c.body == 0 {
			w.done(ci, stamp)
			return
		}
		if n < len(buf) {
			return
		}
	}
}

// done counts the response of ci, whose end arrived at the kernel
// timestamp stamp (0 if none).
func (w *worker) done(ci int32, stamp int64) {
	c := &w.conns[ci]
	now := w.r.now()
	at := now
	if t := w.p.arrival(stamp); stamp != 0 && t >= c.sentAt && t <= now {
		at = t // else the wall clock moved: the read's time, up to a tick late
	}
	o := outcome{
		status:  c.status,
		sent:    true,
		latency: at - c.j.at,
		service: at - c.sentAt,
		delay:   c.sentAt - c.j.at,
	}
	if !expected(c.j.code >= 0, c.status) {
		o.kind = statusKind(c.status)
	}
	w.col.record(at, &o)
	w.busy--
	if c.close {
		w.closeConn(ci)
		return
	}
	c.state = connIdle
	c.pos = int32(len(w.idle))
	w.idle = append(w.idle, ci)
}

// fail counts the request of ci as an error of kind and closes ci.
func (w *worker) fail(ci int32, kind string) {
	c := &w.conns[ci]
	w.col.record(w.r.now(), &outcome{kind: kind, sent: true, delay: c.sentAt - c.j.at})
	w.busy--
	w.closeConn(ci)
}

// expire fails the requests in flight for longer than the timeout.
func (w *worker) expire(now time.Duration) {
	for i := range w.conns {
		c := &w.conns[i]
		if (c.state == connBusy || c.state == connConnecting) && now-c.sentAt > w.r.cfg.Timeout {
			w.fail(int32(i), KindTimeout)
		}
	}
}

func (w *worker) removeIdle(ci int32) {
	pos := w.conns[ci].pos
	last := w.idle[len(w.idle)-1]
	w.idle[pos] = last
	w.conns[last].pos = pos
	w.idle = w.idle[:len(w.idle)-1]
}

// closeConn closes ci (which is in neither list) and frees its slot.
func (w *worker) closeConn(ci int32) {
	c := &w.conns[ci]
	if c.state != connClosed {
		unix.Close(c.fd) // also leaves the epoll set
		w.r.open.Add(-1)
	}
	c.state = connClosed
	w.free = append(w.free, ci)
}

// close closes every connection and the pacer.
func (w *worker) close() {
	for i := range w.conns {
		if w.conns[i].state != connClosed {
			unix.Close(w.conns[i].fd)
			w.conns[i].state = connClosed
			w.r.open.Add(-1)
		}
	}
	w.p.close()
}

// recv reads from fd into b with recvmsg(2), and returns the kernel's
// receive timestamp of the last bytes read (CLOCK_REALTIME, in ns), or 0.
func (w *worker) recv(fd int, b []byte) (int, int64, unix.Errno) {
	w.iov.Base = unsafe.SliceData(b)
	w.iov.SetLen(len(b))
	w.msg.SetControllen(len(w.ctrl))
	w.msg.Flags = 0
	n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&w.msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	var stamp int64
	// One control message at most: SCM_TIMESTAMPNS and a struct timespec.
	const hdr = unix.SizeofCmsghdr
	if w.msg.Controllen >= hdr+16 {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&w.ctrl[0]))
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS {
			ts := (*unix.Timespec)(unsafe.Pointer(&w.ctrl[unix.CmsgLen(0)]))
			stamp = ts.Nano()
		}
	}
	return int(n), stamp, 0
}

// rawRead and rawWrite are read(2) and write(2) without telling the Go
// scheduler: on a non-blocking socket they never block, and the scheduler's
// bookkeeping around a system call costs more than a tenth of the call.
func rawRead(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), e
}

func rawWrite(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(n), e
}
