package front

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin serves /healthz, /readyz, /metrics and /debug/pprof/ on the
// admin listener of edge, api and analytics, away from public traffic.
type Admin struct {
	srv *http.Server
	ln  net.Listener
}

// adminMaxConns caps the admin listener's open connections.
const adminMaxConns = 100

// Readiness returns whether the process should get traffic, and a
// human-readable detail line for /readyz.
type Readiness func() (bool, string)

// StartAdmin listens on addr (--admin-listen) and serves the probes,
// /metrics of reg, /debug/pprof/ and the extra routes.
func StartAdmin(addr string, ready Readiness, reg *prometheus.Registry, log *slog.Logger, routes ...func(*http.ServeMux)) (*Admin, error) {
	mux := http.NewServeMux()
	for _, add := range routes {
		add(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, detail := ready()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, detail)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --admin-listen %s: %w", addr, err)
	}
	// Short read limits; the write timeout leaves room for
	// /debug/pprof/profile and /trace, which refuse a ?seconds= longer than
	// it (their default is 30s). Probes and scrapes need few connections.
	ln = limitListener(ln, adminMaxConns, 0)
	a := &Admin{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener failed", "err", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return a, nil
}

// Addr is the admin listener's address.
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Close stops the admin listener.
func (a *Admin) Close() error { return a.srv.Close() }
