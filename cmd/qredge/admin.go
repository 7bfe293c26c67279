package main

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

// adminServer serves /healthz, /readyz, /metrics and /debug/pprof/ on the
// admin listener of edge, api and analytics, away from public traffic.
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// adminMaxConns caps the admin listener's open connections.
const adminMaxConns = 100

// readiness returns whether the process should get traffic, and a
// human-readable detail line for /readyz.
type readiness func() (bool, string)

func startAdmin(addr string, ready readiness, reg *prometheus.Registry, log *slog.Logger, routes ...func(*http.ServeMux)) (*adminServer, error) {
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
	a := &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}}
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener failed", "err", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String())
	return a, nil
}

func (a *adminServer) Addr() string { return a.ln.Addr().String() }

func (a *adminServer) Close() error { return a.srv.Close() }
