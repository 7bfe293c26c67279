package redisstore

import (
	"strings"
	"testing"

	"github.com/qredge/qredge/internal/redistest"
)

// TestWriterReadiness: qredge api's /readyz is ready with Redis up,
// degraded but ready once the dataset it wrote to is gone (writes answer
// 503), and not ready while Redis is down.
func TestWriterReadiness(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	s := mustOpen(t, srv.Addr(), "qredge")
	want := func(ready bool, detail string) {
		t.Helper()
		ok, got := s.WriterReadiness()
		if ok != ready || !strings.Contains(got, detail) {
			t.Fatalf("WriterReadiness = %v, %q; want %v and %q", ok, got, ready, detail)
		}
	}
	want(true, "ready: redis ok")
	mustCreate(t, s, "a")
	srv.Do("FLUSHALL")
	want(true, "ready: redis ok; degraded: writes answer 503: ")
	srv.Kill()
	want(false, "redis unreachable: writes answer 503")
}
