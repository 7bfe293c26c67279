package aggregate

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBrakeRoutes(t *testing.T) {
	b := NewBrake(nil)
	mux := http.NewServeMux()
	b.Routes(slog.New(slog.NewTextHandler(io.Discard, nil)), func() any { return "d" })(mux)
	f := func(method, path string, wantPaused bool) {
		t.Helper()
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		want := `"paused":false`
		if wantPaused {
			want = `"paused":true`
		}
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) || !strings.Contains(w.Body.String(), `"detail":"d"`) || b.Paused() != wantPaused {
			t.Fatalf("%s %s: %d %s, brake paused %v", method, path, w.Code, w.Body, b.Paused())
		}
	}
	f("GET", "/analytics/status", false)
	f("POST", "/analytics/pause", true)
	f("POST", "/analytics/pause", true)
	f("GET", "/analytics/status", true)
	f("POST", "/analytics/resume", false)
}

func TestBrakeWatchSignalsStop(t *testing.T) {
	stop := NewBrake(nil).WatchSignals(slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop()
	stop() // a second stop is fine
}
