package analytics

import "testing"

var sinkBytes []byte

// BenchmarkEncode: one full event (rule target, variant, country,
// referrer, language, client IP) appended to a reused buffer, as the
// batcher does.
func BenchmarkEncode(b *testing.B) {
	enc := NewEncoder([]byte("secret"), "edge-1")
	e := testEvent(1)
	e.ID = [16]byte{1, 2, 3}
	buf := enc.Append(nil, &e)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = enc.Append(buf[:0], &e)
	}
	sinkBytes = buf
}
