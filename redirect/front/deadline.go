package front

import "time"

// deadlineSlack is how much earlier than asked a connection's write
// deadline may fall. fasthttp sets a write deadline for every response
// (--write-timeout), and each set costs the runtime's timer machinery
// (0.8% of an edge's CPU samples under wrk; gone with this). A deadline
// that moves later by less than the slack is left as it was, so it falls
// up to this much early, never late: a 10 s timeout is kept to between 9
// and 10 s. Read deadlines are set as asked: fasthttp sets the idle
// deadline (--idle-timeout) and then the earlier read deadline
// (--read-timeout) for every request, and an earlier deadline must
// always be set, so there is nothing to save there.
const deadlineSlack = time.Second

// coarseDeadline remembers the deadline last set on a connection.
type coarseDeadline struct{ last time.Time }

// skip reports whether setting t can be skipped: t is at most the slack
// later than the deadline in force (and not earlier, nor a clearing).
func (d *coarseDeadline) skip(t time.Time) bool {
	if t.IsZero() || d.last.IsZero() || t.Before(d.last) || t.Sub(d.last) > deadlineSlack {
		d.last = t
		return false
	}
	return true
}

// SetWriteDeadline sets the write deadline unless a coarse one is in
// force (see deadlineSlack).
func (c *crlfConn) SetWriteDeadline(t time.Time) error {
	if c.writeDL.skip(t) {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines as asked, and remembers the write one.
func (c *crlfConn) SetDeadline(t time.Time) error {
	c.writeDL.last = t
	return c.Conn.SetDeadline(t)
}
