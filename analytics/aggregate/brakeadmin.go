package aggregate

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Routes returns the brake's admin endpoints, to add to an admin mux:
// POST /analytics/pause, POST /analytics/resume and GET
// /analytics/status. Each answers {"paused": ..., "detail": extra()}.
func (b *Brake) Routes(log *slog.Logger, extra func() any) func(mux *http.ServeMux) {
	status := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"paused": b.Paused(), "detail": extra()})
	}
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /analytics/pause", func(w http.ResponseWriter, r *http.Request) {
			if b.Pause() {
				log.Warn("analytics paused (emergency brake): events wait in the log", "by", "admin endpoint")
			}
			status(w)
		})
		mux.HandleFunc("POST /analytics/resume", func(w http.ResponseWriter, r *http.Request) {
			if b.Resume() {
				log.Info("analytics resumed", "by", "admin endpoint")
			}
			status(w)
		})
		mux.HandleFunc("GET /analytics/status", func(w http.ResponseWriter, r *http.Request) { status(w) })
	}
}

// WatchSignals engages the brake on SIGUSR1 and releases it on SIGUSR2
// until stop is called (more than once is fine).
func (b *Brake) WatchSignals(log *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range ch {
			if s == syscall.SIGUSR1 && b.Pause() {
				log.Warn("analytics paused (emergency brake): events wait in the log", "by", "SIGUSR1")
			}
			if s == syscall.SIGUSR2 && b.Resume() {
				log.Info("analytics resumed", "by", "SIGUSR2")
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(ch)
		})
	}
}
