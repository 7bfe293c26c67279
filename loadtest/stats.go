package loadtest

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Error kinds. A status that is not the expected one is an error of kind
// "status_<code>", such as "status_503".
const (
	KindTimeout    = "timeout"    // no response within Config.Timeout
	KindConnection = "connection" // dial, reset, closed or malformed response
	KindBacklog    = "backlog"    // not sent: every connection of its worker busy for Config.BacklogTimeout
	KindCancelled  = "cancelled"  // not sent: the run's context was cancelled
)

// Histogram range: 1 µs to 60 s, three significant digits. Longer values
// are recorded as 60 s (Max stays exact).
const (
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

// statusKinds holds "status_<code>" for codes 0..999, so that counting an
// unexpected status allocates nothing.
var statusKinds = func() (k [1000]string) {
	for i := range k {
		k[i] = "status_" + strconv.Itoa(i)
	}
	return k
}()

func statusKind(code int) string {
	if code < 0 || code >= len(statusKinds) {
		return "status_other"
	}
	return statusKinds[code]
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

// Counts are the figures of one second or of the whole run.
type Counts struct {
	// Intended counts the requests whose intended send time falls in the
	// second: what the profile asked for.
	Intended int64 `json:"intended"`
	// Sent counts the requests written in the second: the achieved rate.
	Sent int64 `json:"sent"`
	// Completed counts the responses received in the second, whatever
	// their status.
	Completed int64 `json:"completed"`
	// OK counts the responses with the expected status: 301, 302, 307 or
	// 308 for a known code, 404 for an unknown one.
	OK int64 `json:"ok"`
	// Errors counts the failures of any kind ended in the second;
	// ErrorKinds splits them. At the end of a run every intended request is
	// either OK or an error.
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// Statuses counts the responses by HTTP status.
	Statuses map[string]int64 `json:"statuses,omitempty"`
	// Latency runs from the intended send time to the response: it includes
	// any time the request waited for a worker or for the generator, so a
	// stalled server cannot hide its queue (coordinated omission). Failures
	// without a response are not in it.
	Latency Latency `json:"latency_us"`
	// Service runs from the actual send to the response: what a closed-loop
	// tool would report. Compare it with Latency to see queueing.
	Service Latency `json:"service_us"`
	// SendDelay runs from the intended to the actual send time: how late the
	// generator was (its wake-up, every connection busy).
	SendDelay Latency `json:"send_delay_us"`
	// GeneratorCPU is the generator's own CPU time in the second or the
	// run, in seconds: user and system time of its whole process
	// (getrusage), so that a run shows whether the generator, not the
	// server, was the limit. GeneratorCPUPerRequest divides it by Sent, in
	// microseconds.
	GeneratorCPU           float64 `json:"generator_cpu_seconds"`
	GeneratorCPUPerRequest float64 `json:"generator_cpu_per_request_us"`
}

// Row is one second of the run: the events between Second and Second+1 s
// after the start. Intended counts by intended time, all else by the time it
// happened. The last row may cover less than a second.
type Row struct {
	Second int `json:"second"`
	// Workers is the number of connections open at the end of the second.
	Workers int `json:"workers"`
	Counts
}

// Total sums the whole run.
type Total struct {
	// ScheduleSeconds is the length of the profile; ElapsedSeconds that of
	// the run, including the wait for the last responses.
	ScheduleSeconds float64 `json:"schedule_seconds"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
	// IntendedRate and SentRate are per second of the profile.
	IntendedRate float64 `json:"intended_rate"`
	SentRate     float64 `json:"sent_rate"`
	// PeakWorkers is the most connections open at once.
	PeakWorkers int `json:"peak_workers"`
	Counts
}

// acc accumulates one second (or the run).
type acc struct {
	completed, ok, errors int64
	kinds                 map[string]int64
	statuses              [len(statusKinds)]int64
	lat, svc, delay       hist
}

func newAcc() *acc {
	return &acc{kinds: make(map[string]int64), lat: newHist(), svc: newHist(), delay: newHist()}
}

func (a *acc) reset() {
	*a = acc{kinds: a.kinds, lat: a.lat, svc: a.svc, delay: a.delay}
	clear(a.kinds)
	a.lat.reset()
	a.svc.reset()
	a.delay.reset()
}

func (a *acc) merge(b *acc) {
	a.completed += b.completed
	a.ok += b.ok
	a.errors += b.errors
	for k, v := range b.kinds {
		a.kinds[k] += v
	}
	for i, v := range b.statuses {
		a.statuses[i] += v
	}
	a.lat.merge(b.lat)
	a.svc.merge(b.svc)
	a.delay.merge(b.delay)
}

func (a *acc) counts() Counts {
	c := Counts{
		Completed: a.completed,
		OK:        a.ok,
		Errors:    a.errors,
		Latency:   a.lat.summary(),
		Service:   a.svc.summary(),
		SendDelay: a.delay.summary(),
	}
	if len(a.kinds) > 0 {
		c.ErrorKinds = make(map[string]int64, len(a.kinds))
		for k, v := range a.kinds {
			c.ErrorKinds[k] = v
		}
	}
	for s, n := range a.statuses {
		if n > 0 {
			if c.Statuses == nil {
				c.Statuses = make(map[string]int64)
			}
			c.Statuses[strconv.Itoa(s)] = n
		}
	}
	return c
}

// hist is an HDR histogram in microseconds with an exact maximum.
type hist struct {
	h   *hdrhistogram.Histogram
	max int64
}

func newHist() hist {
	return hist{h: hdrhistogram.New(histMin, histMax, histDigits)}
}

func (h *hist) record(d time.Duration) {
	us := d.Microseconds()
	h.max = max(h.max, us)
	_ = h.h.RecordValue(min(max(us, histMin), histMax)) // in range: cannot fail
}

func (h *hist) reset() {
	h.h.Reset()
	h.max = 0
}

func (h *hist) merge(o hist) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
}

func (h *hist) summary() Latency {
	if h.h.TotalCount() == 0 {
		return Latency{}
	}
	// A percentile is the top of its histogram bucket, which may lie
	// above the exact maximum.
	at := func(p float64) int64 { return min(h.h.ValueAtPercentile(p), h.max) }
	return Latency{
		Count: h.h.TotalCount(),
		Mean:  float64(int64(h.h.Mean()*10)) / 10,
		P50:   at(50),
		P90:   at(90),
		P99:   at(99),
		P999:  at(99.9),
		Max:   h.max,
	}
}

// outcome is what became of one intended request.
type outcome struct {
	kind    string // "" when OK
	status  int    // 0 without a response
	sent    bool
	latency time.Duration // intended time to response
	service time.Duration // send to response
	delay   time.Duration // intended time to send
}

// collector gathers one worker's outcomes by the second they happened in,
// in HDR histograms of its own. The worker records under a mutex that only
// the cut of a second, once a second, contends for.
type collector struct {
	mu    sync.Mutex
	open  int    // the first second not yet cut
	accs  []*acc // accs[i] gathers second open+i
	spare []*acc
}

func newCollector() *collector {
	c := &collector{}
	c.acc(0) // the first second's histograms, before the run starts
	return c
}

// acc returns the accumulator of second s; an outcome of a second already
// cut (recorded after the grace period) goes to the first open one.
func (c *collector) acc(s int) *acc {
	i := max(s-c.open, 0)
	for len(c.accs) <= i {
		var a *acc
		if n := len(c.spare); n > 0 {
			a, c.spare = c.spare[n-1], c.spare[:n-1]
		} else {
			a = newAcc()
		}
		c.accs = append(c.accs, a)
	}
	return c.accs[i]
}

// record adds o, which happened at t since the start.
func (c *collector) record(t time.Duration, o *outcome) {
	c.mu.Lock()
	a := c.acc(int(t / time.Second))
	if o.status > 0 {
		a.completed++
		a.statuses[min(o.status, len(a.statuses)-1)]++
		a.lat.record(o.latency)
		a.svc.record(o.service)
	}
	if o.sent {
		a.delay.record(o.delay)
	}
	if o.kind == "" {
		a.ok++
	} else {
		a.errors++
		a.kinds[o.kind]++
	}
	c.mu.Unlock()
}

// cut ends second s, the first open one, and merges its outcomes into
// into.
func (c *collector) cut(s int, into *acc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s != c.open {
		panic(fmt.Sprintf("BUG: cutting second %d, the first open one is %d", s, c.open))
	}
	a := c.acc(s)
	into.merge(a)
	a.reset()
	c.spare = append(c.spare, a)
	c.accs = append(c.accs[:0], c.accs[1:]...)
	c.open++
}

// progressLine formats a row as the live progress line.
func progressLine(w io.Writer, r *Row) {
	fmt.Fprintf(w, "t=%ds intended=%d/s sent=%d/s ok=%d err=%d%s p50=%s p99=%s max=%s send_delay_p99=%s conns=%d cpu=%.0f%%\n",
		r.Second, r.Intended, r.Sent, r.OK, r.Errors, kindsText(r.ErrorKinds),
		fmtMicros(r.Latency.P50), fmtMicros(r.Latency.P99), fmtMicros(r.Latency.Max), fmtMicros(r.SendDelay.P99),
		r.Workers, r.GeneratorCPU*100)
}

// totalLine formats the whole run for the progress writer.
func totalLine(w io.Writer, t *Total) {
	fmt.Fprintf(w, "total %.1fs intended=%d (%.0f/s) sent=%d (%.0f/s) ok=%d err=%d%s p50=%s p90=%s p99=%s p99.9=%s max=%s service_p99=%s send_delay_p99=%s generator_cpu=%.3fs (%.2fµs/request)\n",
		t.ElapsedSeconds, t.Intended, t.IntendedRate, t.Sent, t.SentRate, t.OK, t.Errors, kindsText(t.ErrorKinds),
		fmtMicros(t.Latency.P50), fmtMicros(t.Latency.P90), fmtMicros(t.Latency.P99), fmtMicros(t.Latency.P999),
		fmtMicros(t.Latency.Max), fmtMicros(t.Service.P99), fmtMicros(t.SendDelay.P99), t.GeneratorCPU, t.GeneratorCPUPerRequest)
}

func kindsText(kinds map[string]int64) string {
	if len(kinds) == 0 {
		return ""
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(" (")
	for i, k := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, kinds[k])
	}
	b.WriteByte(')')
	return b.String()
}

// fmtMicros formats a latency in microseconds for people: 85µs, 1.25ms, 2.50s.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return strconv.FormatInt(us, 10) + "µs"
	case us < 1_000_000:
		return strconv.FormatFloat(float64(us)/1e3, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64) + "s"
}
