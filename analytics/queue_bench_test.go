package analytics_test

import (
	"testing"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/analyticstest"
)

var sinkOK bool

// benchEvent is a scan event of the size the edge enqueues.
func benchEvent() analytics.Event {
	e := analytics.Event{Key: "c1\x00go.example", Version: 7, Status: 302, Target: analytics.TargetRule, Rule: 2,
		Variant: "b", Country: [2]byte{'D', 'E'}, Device: analytics.DeviceIOS}
	copy(e.Lang[:], "de")
	e.SetReferrer([]byte("https://User@WWW.Example.com:443/path?q=1"))
	copy(e.IP[:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 1})
	return e
}

func BenchmarkEnqueue(b *testing.B) {
	q := analytics.NewQueue(1 << 20)
	analyticstest.Drain(b, q)
	e := benchEvent()
	b.ReportAllocs()
	b.ResetTimer()
	ok := true
	for i := 0; i < b.N; i++ {
		ok = q.Enqueue(&e) && ok
	}
	sinkOK = ok
}

func BenchmarkEnqueueParallel(b *testing.B) {
	q := analytics.NewQueue(1 << 20)
	analyticstest.Drain(b, q)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := benchEvent()
		ok := true
		for pb.Next() {
			ok = q.Enqueue(&e) && ok
		}
		sinkOK = ok
	})
}
