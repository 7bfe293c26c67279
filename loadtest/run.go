package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// queueLen is how many intended requests may wait for a worker once the
// pool is at MaxInFlight. When the queue is full the scheduler waits too;
// it never skips a request, and a request that waits longer than
// BacklogTimeout is counted as a backlog error.
const queueLen = 4096

// Run sends the load that cfg describes and returns its report. It writes a
// progress line per second to progress, unless that is nil. It returns an
// error for an invalid Config; if ctx ends the run early, it returns the
// report of what ran (Cancelled set) together with ctx's error.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	tg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	mix, err := newMixer(&cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{
		cfg:      &cfg,
		prefix:   []byte(tg.prefix),
		paths:    codePaths(cfg.Codes),
		ua:       values(cfg.UserAgents),
		referer:  values(cfg.Referers),
		mix:      mix,
		jobs:     make(chan job, queueLen),
		col:      newCollector(),
		progress: progress,
		intended: make([]atomic.Int64, seconds(scheduleDuration(cfg.Schedule))),
		// The run lasts the schedule, plus at most the backlog timeout and
		// the request timeout for the last requests.
		sent: make([]atomic.Int64, seconds(scheduleDuration(cfg.Schedule)+cfg.BacklogTimeout+cfg.Timeout)+1),
		hc: &fasthttp.HostClient{
			Addr:                     tg.addr,
			IsTLS:                    tg.tls,
			MaxConns:                 cfg.MaxInFlight,
			NoDefaultUserAgentHeader: true,
			DisablePathNormalizing:   true,
			ReadBufferSize:           8 << 10,
			MaxResponseBodySize:      64 << 10,
		},
	}
	if cfg.CountryHeader != "" {
		r.countryKey = []byte(cfg.CountryHeader)
		r.country = values(cfg.Countries)
	}
	defer r.hc.CloseIdleConnections()
	return r.run(ctx)
}

// seconds returns how many whole or partial seconds d spans, at least 1.
func seconds(d time.Duration) int {
	return max(int(math.Ceil(d.Seconds())), 1)
}

// second returns the index of the second that d (since the start) is in,
// within a table of n seconds.
func second(d time.Duration, n int) int {
	return min(max(int(d/time.Second), 0), n-1)
}

func values(ws []Weighted) [][]byte {
	out := make([][]byte, len(ws))
	for i, w := range ws {
		out[i] = []byte(w.Value)
	}
	return out
}

type runner struct {
	cfg        *Config
	hc         *fasthttp.HostClient
	mix        *mixer
	prefix     []byte   // scheme://host/base-path
	paths      [][]byte // "/code" for each code
	ua         [][]byte
	countryKey []byte
	country    [][]byte
	referer    [][]byte

	start    time.Time
	jobs     chan job
	idle     atomic.Int32 // workers waiting for a job
	workers  atomic.Int32 // workers started
	stopping atomic.Bool  // cancelled: queued jobs are not sent
	wg       sync.WaitGroup

	col      *collector
	intended []atomic.Int64 // by intended second
	sent     []atomic.Int64 // by second of sending
	rows     []Row
	progress io.Writer
}

// now returns the time since the start of the run, from the monotonic clock.
func (r *runner) now() time.Duration {
	return time.Since(r.start)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	r.start = time.Now()
	// Start with a pool for about 1 ms of latency at the peak rate; it
	// grows on demand up to MaxInFlight.
	initial := min(max(int(peakRate(r.cfg.Schedule)/1000), 4), r.cfg.MaxInFlight)
	for range initial {
		r.spawn()
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go r.report(stop, stopped)

	cancelled := r.schedule(ctx)
	if cancelled {
		r.stopping.Store(true)
	}
	close(r.jobs)
	r.wg.Wait()
	close(stop)
	<-stopped

	// The seconds left; the last is partial. Seconds past the schedule with
	// nothing in them are left out.
	end := r.now()
	var tail []Row
	for s := r.col.opened(); s <= int(end/time.Second); s++ {
		tail = append(tail, r.cutRow(s))
	}
	for n := len(tail); n > 0; n-- {
		last := &tail[n-1]
		if time.Duration(last.Second)*time.Second < scheduleDuration(r.cfg.Schedule) ||
			last.Sent+last.Completed+last.Errors > 0 {
			break
		}
		tail = tail[:n-1]
	}
	for _, row := range tail {
		r.appendRow(row)
	}

	rep := &Report{Config: summarize(r.cfg), Start: r.start, Cancelled: cancelled, Seconds: r.rows}
	t := &rep.Total
	t.Counts = r.col.total.counts()
	for i := range rep.Seconds {
		row := &rep.Seconds[i] // the final counts, also of stragglers
		row.Intended, row.Sent = 0, 0
		if i < len(r.intended) {
			row.Intended = r.intended[i].Load()
		}
		if i < len(r.sent) {
			row.Sent = r.sent[i].Load()
		}
		t.Intended += row.Intended
		t.Sent += row.Sent
	}
	t.ScheduleSeconds = scheduleDuration(r.cfg.Schedule).Seconds()
	t.ElapsedSeconds = end.Seconds()
	t.PeakWorkers = int(r.workers.Load())
	if span := min(t.ScheduleSeconds, t.ElapsedSeconds); span > 0 {
		t.IntendedRate = float64(t.Intended) / span
		t.SentRate = float64(t.Sent) / span
	}
	if r.progress != nil {
		totalLine(r.progress, t)
	}
	if cancelled {
		return rep, fmt.Errorf("load test cancelled: %w", ctx.Err())
	}
	return rep, nil
}

// schedule walks the profile, waits for each request's intended time and
// hands the request to a worker. It reports whether ctx cancelled the run.
// It never skips a request: one that is due while the scheduler is behind
// is handed on at once and keeps its intended time.
func (r *runner) schedule(ctx context.Context) (cancelled bool) {
	clk := newClock(r.cfg.Schedule)
	pc := newPacer()
	defer pc.close()
	var j job
	for {
		at, ok := clk.next()
		if !ok {
			return false
		}
		r.mix.next(&j)
		j.at = at
		if !r.waitUntil(ctx, pc, at) {
			return true // cancelled before the request was due
		}
		r.intended[second(at, len(r.intended))].Add(1)
		if r.now()-at > r.cfg.BacklogTimeout {
			r.col.record(r.now(), &outcome{kind: KindBacklog})
			continue
		}
		r.grow()
		select {
		case r.jobs <- j:
		default:
			select {
			case r.jobs <- j:
			case <-ctx.Done():
				r.col.record(r.now(), &outcome{kind: KindCancelled})
				return true
			}
		}
	}
}

// maxSleep bounds one wait of the scheduler, so that it notices a
// cancelled context during an idle step.
const maxSleep = 50 * time.Millisecond

// waitUntil waits until the intended time at; false if ctx ended first.
func (r *runner) waitUntil(ctx context.Context, pc *pacer, at time.Duration) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		wait := at - r.now()
		if wait <= 0 {
			return true
		}
		pc.sleep(min(wait, maxSleep))
	}
}

// grow starts a worker when more jobs wait than idle workers could take:
// a job has waited since the previous dispatch. Starting one on every
// momentary shortage instead grows the pool far past what the load needs
// when the machine is busy, and with it the cost of every goroutine switch.
func (r *runner) grow() {
	if int(r.workers.Load()) < r.cfg.MaxInFlight && len(r.jobs) > int(r.idle.Load()) {
		r.spawn()
	}
}

func (r *runner) spawn() {
	r.workers.Add(1)
	r.wg.Add(1)
	go r.worker()
}

// worker sends one request at a time, reusing its request and response.
func (r *runner) worker() {
	defer r.wg.Done()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	var uri []byte
	for {
		r.idle.Add(1)
		j, ok := <-r.jobs
		r.idle.Add(-1)
		if !ok {
			return
		}
		var o outcome
		sentAt := r.now()
		switch {
		case r.stopping.Load():
			o.kind = KindCancelled
		case sentAt-j.at > r.cfg.BacklogTimeout:
			o.kind = KindBacklog
		default:
			uri = r.build(req, &j, uri)
			r.sent[second(sentAt, len(r.sent))].Add(1)
			err := r.hc.DoTimeout(req, resp, r.cfg.Timeout)
			done := r.now()
			o.sent = true
			o.delay = sentAt - j.at
			if err != nil {
				o.kind = errKind(err)
				break
			}
			o.status = resp.StatusCode()
			o.latency = done - j.at
			o.service = done - sentAt
			if !expected(j.code >= 0, o.status) {
				o.kind = statusKind(o.status)
			}
		}
		r.col.record(r.now(), &o)
	}
}

// build fills req for j; uri is the worker's buffer for the URI.
func (r *runner) build(req *fasthttp.Request, j *job, uri []byte) []byte {
	uri = append(uri[:0], r.prefix...)
	if j.code >= 0 {
		uri = append(uri, r.paths[j.code]...)
	} else {
		uri = append(uri, '/')
		uri = append(uri, j.unknown[:]...)
	}
	req.SetRequestURIBytes(uri)
	if len(r.ua) > 0 {
		req.Header.SetUserAgentBytes(r.ua[j.ua])
	}
	if r.countryKey != nil {
		req.Header.SetBytesKV(r.countryKey, r.country[j.country])
	}
	if len(r.referer) > 0 {
		if v := r.referer[j.referer]; len(v) > 0 {
			req.Header.SetRefererBytes(v)
		} else {
			req.Header.Del(fasthttp.HeaderReferer)
		}
	}
	return uri
}

// expected reports whether status is the right answer: a redirect for a
// known code, 404 for an unknown one.
func expected(known bool, status int) bool {
	if !known {
		return status == fasthttp.StatusNotFound
	}
	switch status {
	case fasthttp.StatusMovedPermanently, fasthttp.StatusFound,
		fasthttp.StatusTemporaryRedirect, fasthttp.StatusPermanentRedirect:
		return true
	}
	return false
}

// errKind classifies a failed request.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout):
		return KindTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return KindBacklog
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	}
	return KindConnection
}

// reportGrace is how long after the end of a second its row is closed, for
// the outcomes of that second still being recorded.
const reportGrace = 20 * time.Millisecond

// report closes a row at every whole second of the run until stop closes.
func (r *runner) report(stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for s := 0; ; s++ {
		timer.Reset(time.Duration(s+1)*time.Second + reportGrace - r.now())
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		r.appendRow(r.cutRow(s))
	}
}

// cutRow ends second s and returns its row; Intended is the count so far
// (the report fills in the final one).
func (r *runner) cutRow(s int) Row {
	row := Row{Second: s, Workers: int(r.workers.Load()), Counts: r.col.cut(s)}
	if s < len(r.sent) {
		row.Sent = r.sent[s].Load()
	}
	if s < len(r.intended) {
		row.Intended = r.intended[s].Load()
	}
	return row
}

func (r *runner) appendRow(row Row) {
	r.rows = append(r.rows, row)
	if r.progress != nil {
		progressLine(r.progress, &row)
	}
}
