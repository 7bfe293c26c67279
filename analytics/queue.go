package analytics

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// Queue is the bounded in-memory queue between the hot path and the
// pipeline. Enqueue never blocks and never allocates.
type Queue struct {
	ch       chan Event
	prefix   [8]byte // random per process: event IDs are unique across edges
	seq      atomic.Uint64
	enqueued atomic.Uint64
	full     atomic.Uint64
}

// NewQueue returns a queue holding up to size events.
func NewQueue(size int) *Queue {
	q := &Queue{ch: make(chan Event, size)}
	if _, err := rand.Read(q.prefix[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return q
}

// Enqueue gives the event an ID and queues a copy of it. It returns false,
// and counts the event as dropped, when the queue is full: that only
// happens when the pipeline cannot even write to disk as fast as scans
// arrive.
func (q *Queue) Enqueue(e *Event) bool {
	copy(e.ID[:8], q.prefix[:])
	binary.BigEndian.PutUint64(e.ID[8:], q.seq.Add(1))
	select {
	case q.ch <- *e:
		q.enqueued.Add(1)
		return true
	default:
		q.full.Add(1)
		return false
	}
}

// Len returns the number of queued events.
func (q *Queue) Len() int { return len(q.ch) }

// Cap returns the queue's capacity.
func (q *Queue) Cap() int { return cap(q.ch) }

// Dequeue returns a queued event without waiting; ok is false when the
// queue is empty. The pipeline reads the queue itself; this is for tests
// and tools.
func (q *Queue) Dequeue() (e Event, ok bool) {
	select {
	case e = <-q.ch:
		return e, true
	default:
		return e, false
	}
}
