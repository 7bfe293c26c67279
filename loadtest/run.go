package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Run sends the load that cfg describes and returns its report. It writes a
// progress line per second to progress, unless that is nil. It returns an
// error for an invalid Config; if ctx ends the run early, it returns the
// report of what ran (Cancelled set) together with ctx's error.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	r, err := newRunner(&cfg, progress)
	if err != nil {
		return nil, err
	}
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

// runner is one run: the workers, each with its own connections, clock,
// mixer and histograms, and the reporter that cuts a row every second.
type runner struct {
	cfg  *Config
	enc  *encoder
	addr *net.TCPAddr
	mix  *mixer

	start    time.Time
	workers  []*worker
	stopping atomic.Bool // ctx ended: send nothing more
	open     atomic.Int32
	peak     atomic.Int32

	intended []atomic.Int64 // by intended second
	sent     []atomic.Int64 // by second of sending

	cpu0, cpuCut time.Duration // the process's CPU time at the start and at the last cut
	cut          int           // the first second not yet cut
	row, total   *acc
	rows         []Row
	progress     io.Writer
}

func newRunner(cfg *Config, progress io.Writer) (*runner, error) {
	tg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	mix, err := newMixer(cfg)
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveTCPAddr("tcp", tg.addr)
	if err != nil {
		return nil, fmt.Errorf("invalid target %q: %w", cfg.Target, err)
	}
	r := &runner{
		cfg:      cfg,
		enc:      newEncoder(cfg, tg),
		addr:     addr,
		mix:      mix,
		intended: make([]atomic.Int64, seconds(scheduleDuration(cfg.Schedule))),
		// The run lasts the schedule, plus at most the backlog timeout and
		// the request timeout for the last requests.
		sent:     make([]atomic.Int64, seconds(scheduleDuration(cfg.Schedule)+cfg.BacklogTimeout+cfg.Timeout)+1),
		row:      newAcc(),
		total:    newAcc(),
		progress: progress,
	}
	n := cfg.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	n = min(n, cfg.MaxInFlight)
	for i := range n {
		// Connections are shared out as evenly as they go.
		conns := cfg.MaxInFlight/n + btoi(i < cfg.MaxInFlight%n)
		w, err := newWorker(r, i, n, conns)
		if err != nil {
			r.closeWorkers()
			return nil, err
		}
		r.workers = append(r.workers, w)
	}
	return r, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (r *runner) closeWorkers() {
	for _, w := range r.workers {
		w.close()
	}
}

// now returns the time since the start of the run, from the monotonic clock.
func (r *runner) now() time.Duration {
	return time.Since(r.start)
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	defer r.closeWorkers()
	r.start = time.Now()
	r.cpu0 = processCPU()
	r.cpuCut = r.cpu0
	stopWatch := context.AfterFunc(ctx, func() { r.stopping.Store(true) })
	defer stopWatch()

	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(r.start)
		}()
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go r.report(stop, stopped)
	wg.Wait()
	close(stop)
	<-stopped
	cancelled := false
	for _, w := range r.workers {
		cancelled = cancelled || w.cancelled
	}

	// The seconds left; the last is partial. Seconds past the schedule with
	// nothing in them are left out.
	end := r.now()
	var tail []Row
	for s := r.cut; s <= int(end/time.Second); s++ {
		tail = append(tail, r.cutRow(s))
	}
	cpu := processCPU() - r.cpu0
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
	rep.Config.Workers = len(r.workers)
	t := &rep.Total
	t.Counts = r.total.counts()
	for i := range rep.Seconds {
		row := &rep.Seconds[i] // the final counts, also of stragglers
		row.Intended, row.Sent = 0, 0
		if i < len(r.intended) {
			row.Intended = r.intended[i].Load()
		}
		if i < len(r.sent) {
			row.Sent = r.sent[i].Load()
		}
		row.GeneratorCPUPerRequest = perRequest(row.GeneratorCPU, row.Sent)
		t.Intended += row.Intended
		t.Sent += row.Sent
	}
	t.GeneratorCPU = cpu.Seconds()
	t.GeneratorCPUPerRequest = perRequest(t.GeneratorCPU, t.Sent)
	t.ScheduleSeconds = scheduleDuration(r.cfg.Schedule).Seconds()
	t.ElapsedSeconds = end.Seconds()
	t.PeakWorkers = int(r.peak.Load())
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

// perRequest returns cpu seconds per request in microseconds.
func perRequest(cpu float64, requests int64) float64 {
	if requests == 0 {
		return 0
	}
	return math.Round(cpu/float64(requests)*1e8) / 100
}

// opened counts a connection opened.
func (r *runner) opened() {
	n := r.open.Add(1)
	for p := r.peak.Load(); n > p && !r.peak.CompareAndSwap(p, n); p = r.peak.Load() {
	}
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

// cutRow ends second s in every worker and returns its row; Intended and
// Sent are the counts so far (the report fills in the final ones).
func (r *runner) cutRow(s int) Row {
	for _, w := range r.workers {
		w.col.cut(s, r.row)
	}
	r.cut = s + 1
	cpu := processCPU()
	row := Row{Second: s, Workers: int(r.open.Load()), Counts: r.row.counts()}
	row.GeneratorCPU = (cpu - r.cpuCut).Seconds()
	r.cpuCut = cpu
	r.total.merge(r.row)
	r.row.reset()
	if s < len(r.sent) {
		row.Sent = r.sent[s].Load()
	}
	if s < len(r.intended) {
		row.Intended = r.intended[s].Load()
	}
	row.GeneratorCPUPerRequest = perRequest(row.GeneratorCPU, row.Sent)
	return row
}

func (r *runner) appendRow(row Row) {
	r.rows = append(r.rows, row)
	if r.progress != nil {
		progressLine(r.progress, &row)
	}
}

// expected reports whether status is the right answer: a redirect for a
// known code, 404 for an unknown one.
func expected(known bool, status int) bool {
	if !known {
		return status == 404
	}
	switch status {
	case 301, 302, 307, 308:
		return true
	}
	return false
}
