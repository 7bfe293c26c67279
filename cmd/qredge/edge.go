package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store/redisstore"
)

// EdgeConfig is the configuration of 'qredge edge'.
type EdgeConfig struct {
	Redis             cli.RedisFlags
	processFlags      // --listen, --admin-listen, --shutdown-timeout, --log-*
	Redirect          redirect.Config
	Events            analytics.Config        // --spool-dir, --spool-max-bytes, --ip-hash-secret, --node-id
	Kafka             kafka.WriterConfig      // --kafka*
	Fallback          redirect.FallbackConfig // --negative-cache-ttl, --fallback-timeout, --fallback-rate
	Sync              redisstore.SyncConfig   // --resync-interval, --snapshot-dir, --shared-snapshots, --snapshot-interval
	ServeWhileLoading bool
	HTTP              front.Config
}

// DefaultEdgeConfig returns the defaults of 'qredge edge'.
func DefaultEdgeConfig() EdgeConfig {
	return EdgeConfig{
		Redis: cli.DefaultRedisFlags(), processFlags: defaultProcessFlags(":8080", ":9090"), Redirect: redirect.DefaultConfig(),
		Events:   defaultEvents("./qredge-spool"),
		Kafka:    kafka.DefaultWriterConfig(),
		Fallback: redirect.DefaultFallbackConfig(),
		Sync:     redisstore.SyncConfig{ResyncInterval: 5 * time.Minute, SharedSnapshots: true, SnapshotInterval: time.Minute},
		HTTP:     front.DefaultConfig(100000),
	}
}

func (c *EdgeConfig) RegisterFlags(fs flagRegistrar) {
	cli.Register(fs, c.Redis.Register, c.processFlags.Register, c.Redirect.RegisterFlags, c.Events.RegisterFlags, c.Kafka.RegisterFlags,
		c.Fallback.RegisterFlags, c.Sync.RegisterFlags)
	fs.BoolVar(&c.ServeWhileLoading, "serve-while-loading", c.ServeWhileLoading, "answer scans before every link is loaded (from Redis, one lookup per code); by default scans get 503 until loaded")
	c.HTTP.RegisterFlags(fs)
}

// Check returns an error naming the first invalid setting.
func (c *EdgeConfig) Check() error {
	kafkaCheck := func() error { return nil }
	if c.Kafka.Kafka.Enabled() {
		kafkaCheck = c.Kafka.Check
	}
	return cli.Check(c.Redis.Check, c.processFlags.Check, c.Redirect.Check, c.Events.Check, kafkaCheck, c.Fallback.Check, c.Sync.Check, c.HTTP.Check)
}

func runEdge(ctx context.Context, args []string, stderr io.Writer) error {
	e := &Edge{Config: DefaultEdgeConfig()}
	return runDaemon(ctx, "edge", "qredge edge --redis ADDR [flags]", &e.Config, &e.Log, args, stderr, e.Open, e.Close)
}

// Edge is 'qredge edge': the hot path over a table kept current from
// Redis, plus an admin listener.
type Edge struct {
	Config EdgeConfig
	Log    *slog.Logger
	// slowSource, when set before Open, wraps the fallback's Redis lookups
	// (tests: a slow network between edge and Redis).
	slowSource func(redirect.Source) redirect.Source

	store    *redisstore.Store
	table    *redirect.Table
	syncer   *redisstore.Syncer
	handler  *redirect.Handler
	events   *analytics.Pipeline
	ln       net.Listener
	srv      *fasthttp.Server
	served   chan error
	admin    *front.Admin
	stopping atomic.Bool
	closers  cli.Closers
}

// Addr is the scan listener's address; AdminAddr the admin listener's.
func (e *Edge) Addr() string      { return e.ln.Addr().String() }
func (e *Edge) AdminAddr() string { return e.admin.Addr() }

// Table returns the edge's in-memory table.
func (e *Edge) Table() *redirect.Table { return e.table }

// Syncer returns the edge's change-feed follower.
func (e *Edge) Syncer() *redisstore.Syncer { return e.syncer }

// Open starts loading links (in the background, retrying while Redis is
// down) and starts both listeners. It does not wait for the load: /readyz
// says when the edge is ready.
func (e *Edge) Open() (err error) {
	cfg := e.Config
	e.Log = cli.OrDiscard(e.Log)
	if e.store, err = redisstore.New(cfg.Redis.Config()); err != nil {
		return err
	}
	e.closers.Add(e.store.Close)
	defer e.closers.CloseOnError(&err)
	e.table = redirect.NewTable()
	rcfg := cfg.Redirect
	if rcfg.Countries, err = openGeoIP(rcfg.GeoIPDB, e.Log, &e.closers); err != nil {
		return err
	}
	if !cfg.Kafka.Kafka.Enabled() {
		e.Log.Warn("no --kafka: scan events are kept in the local spool only, until an edge with --kafka replays them", "spool_dir", cfg.Events.SpoolDir)
	}
	if e.events, err = startEvents(cfg.Events, &cfg.Kafka, e.Log, rcfg.Countries, &e.closers); err != nil {
		return err
	}
	rcfg.Events = e.events.Queue()
	var src redirect.Source = e.store
	if e.slowSource != nil {
		src = e.slowSource(src)
	}
	rcfg.Fallback = cfg.Fallback
	rcfg.Fallback.Source = src
	e.handler = redirect.NewHandler(rcfg, e.table)
	scfg := cfg.Sync
	scfg.Log, scfg.Owner = e.Log, processOwner()
	if err := scfg.OpenSnapshotDir(); err != nil {
		return err
	}
	e.syncer = redisstore.NewSyncer(e.store, e.table, scfg)
	e.syncer.Start()
	e.closers.AddFunc(func() {
		e.syncer.Stop()
		if err := e.syncer.SaveLocalSnapshot(); err != nil {
			e.Log.Warn("local snapshot not written at shutdown", "err", err)
		}
	})

	reg := front.NewRegistry(e.handler.Metrics(), buildInfo())
	reg.MustRegister(e.table.Collectors()...)
	reg.MustRegister(e.syncer.Collectors()...)
	reg.MustRegister(e.handler.FallbackStats().Collectors()...)
	reg.MustRegister(e.events.Collectors()...)
	if e.admin, err = front.StartAdmin(cfg.AdminListen, e.readiness, reg, e.Log, front.ExportLinks(e.table, e.syncer.Dataset)); err != nil {
		return err
	}
	e.closers.Add(e.admin.Close)
	if e.ln, err = cfg.HTTP.Listen(cfg.Listen); err != nil {
		return err
	}
	e.closers.Add(e.ln.Close)
	scans := &front.Scans{Hosts: cfg.HTTP.AcceptedHosts(), Table: e.table, ServeWhileLoading: cfg.ServeWhileLoading, Redirect: e.handler}
	front.RegisterMetrics(reg, e.ln, scans.Hosts)
	e.srv = scans.Server(&cfg.HTTP, e.Log)
	e.served = make(chan error, 1)
	go func() { e.served <- e.srv.Serve(e.ln) }()
	e.Log.Info("listening", "addr", e.ln.Addr().String(), "redis", cfg.Redis.Addr, "redis_mode", e.store.Mode())
	return nil
}

// readiness is the syncer's (redisstore.Syncer.Readiness), but while
// shutting down.
func (e *Edge) readiness() (bool, string) {
	if e.stopping.Load() {
		return false, "shutting down"
	}
	return e.syncer.Readiness(e.table.Ready())
}

// Close stops taking scans, lets in-flight ones finish, and stops.
func (e *Edge) Close() error {
	e.stopping.Store(true)
	var err error
	if e.srv != nil {
		err = front.Shutdown(e.srv, e.ln, e.served, e.Config.ShutdownTimeout)
	}
	e.closers.Close()
	e.Log.Info("stopped")
	return err
}

// processOwner names this process among the edges (the snapshot
// publishing lock).
func processOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}
