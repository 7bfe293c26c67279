// Package progress shows how far a long command is: on a terminal a line
// redrawn in place (done, rate, and with a known total the percentage and
// the time left), elsewhere a line every few seconds, nothing when quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Meter reports the progress of one command. Update may be called as
// often as the work likes: the meter prints only when a line is due.
type Meter struct {
	w     io.Writer
	label string
	unit  string
	total int64 // 0: unknown
	tty   bool
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	start   time.Time
	last    time.Time
	printed bool
}

// New returns a meter of work that counts unit ("links") up to total (0
// when unknown), printing to w; nil when quiet. Lines are due every 5 s,
// or 5 times a second when w is a terminal.
func New(w io.Writer, label, unit string, total int64, quiet bool) *Meter {
	if quiet || w == nil {
		return nil
	}
	m := &Meter{w: w, label: label, unit: unit, total: total, every: 5 * time.Second, now: time.Now}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			m.tty, m.every = true, 200*time.Millisecond
		}
	}
	m.start = m.now()
	m.last = m.start
	return m
}

// Update reports done units so far (and, with a total in other units
// than done, such as bytes of a file, at of total).
func (m *Meter) Update(done, at int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.last) < m.every {
		return
	}
	m.last = now
	m.printed = true
	el := now.Sub(m.start)
	line := fmt.Sprintf("%s: %d %s, %.0f %s/s", m.label, done, m.unit, float64(done)/el.Seconds(), m.unit)
	if m.total > 0 && at > 0 {
		frac := min(float64(at)/float64(m.total), 1)
		left := time.Duration(float64(el) * (1 - frac) / frac).Round(time.Second)
		line = fmt.Sprintf("%s: %3.0f%%, %d %s, %.0f %s/s, about %s left", m.label, frac*100, done, m.unit, float64(done)/el.Seconds(), m.unit, left)
	}
	if m.tty {
		fmt.Fprintf(m.w, "\r%-78s", line)
		return
	}
	fmt.Fprintln(m.w, line)
}

// Done ends the meter's line on a terminal, before the command's summary.
func (m *Meter) Done() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tty && m.printed {
		fmt.Fprint(m.w, "\r"+fmt.Sprintf("%78s", "")+"\r")
	}
}

// Reader counts the bytes read through it, for a meter of a file's
// progress.
type Reader struct {
	R io.Reader
	N int64
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	r.N += int64(n)
	return n, err
}
