//go:build !linux

package loadtest

import "time"

// pacer waits until intended send times with a Go timer, which may wake
// up to about a millisecond late in an idle process; the report's send
// delay shows it.
type pacer struct {
	timer *time.Timer
}

func newPacer() *pacer {
	return &pacer{timer: time.NewTimer(time.Hour)}
}

// sleep waits for d (> 0).
func (p *pacer) sleep(d time.Duration) {
	p.timer.Reset(d)
	<-p.timer.C
}

func (p *pacer) close() {
	p.timer.Stop()
}
