package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/redirect/geoip"
	"github.com/qredge/qredge/store/redisstore"
)

// EdgeConfig is the configuration of 'qredge edge'.
type EdgeConfig struct {
	Redis       RedisFlags
	Listen      string
	AdminListen string
	RedirectFlags
	Events            EventFlags
	ResyncInterval    time.Duration
	NegativeTTL       time.Duration
	FallbackTimeout   time.Duration
	FallbackRate      int64
	ServeWhileLoading bool
	SnapshotDir       string
	SharedSnapshots   bool
	SnapshotInterval  time.Duration
	ShutdownTimeout   time.Duration
	HTTP              HTTPFlags
	logFlags
}

// DefaultEdgeConfig returns the defaults of 'qredge edge'.
func DefaultEdgeConfig() EdgeConfig {
	fb := redirect.DefaultFallbackConfig()
	return EdgeConfig{
		Redis: defaultRedisFlags(), Listen: ":8080", AdminListen: ":9090", RedirectFlags: defaultRedirectFlags(),
		Events:         defaultEventFlags("./qredge-spool"),
		ResyncInterval: 5 * time.Minute, NegativeTTL: fb.NegativeTTL, FallbackTimeout: fb.Timeout, FallbackRate: fb.MaxPerSecond,
		SharedSnapshots: true, SnapshotInterval: time.Minute,
		ShutdownTimeout: 15 * time.Second, HTTP: defaultHTTPFlags(100000), logFlags: defaultLogFlags(),
	}
}

func (c *EdgeConfig) registerFlags(fs flagRegistrar) {
	c.Redis.register(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "address for scans (GET /{code})")
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "address for /healthz, /readyz, /metrics and /debug/pprof/")
	c.RedirectFlags.register(fs)
	c.Events.register(fs, true)
	fs.DurationVar(&c.ResyncInterval, "resync-interval", c.ResyncInterval, "how often the in-memory table is compared with Redis in full (0: never)")
	fs.DurationVar(&c.NegativeTTL, "negative-cache-ttl", c.NegativeTTL, "how long a code found neither in memory nor in Redis is answered 404 without asking Redis again")
	fs.DurationVar(&c.FallbackTimeout, "fallback-timeout", c.FallbackTimeout, "how long a scan of a code missing from memory waits for Redis")
	fs.Int64Var(&c.FallbackRate, "fallback-rate", c.FallbackRate, "most Redis lookups per second for codes missing from memory (a storm of random codes cannot exceed it)")
	fs.BoolVar(&c.ServeWhileLoading, "serve-while-loading", c.ServeWhileLoading, "answer scans before every link is loaded (from Redis, one lookup per code); by default scans get 503 until loaded")
	fs.StringVar(&c.SnapshotDir, "snapshot-dir", c.SnapshotDir, "directory of the edge's local snapshot of its links (links.snap): a restart loads it and catches up from Redis's change stream, and starts degraded from it when Redis is down; empty: none")
	fs.BoolVar(&c.SharedSnapshots, "shared-snapshots", c.SharedSnapshots, "start from the shared snapshot in Redis when it fits, and publish it (one edge at a time) every --snapshot-interval")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often the local and shared snapshots are refreshed when the links changed")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for in-flight requests")
	c.HTTP.register(fs, true)
	c.logFlags.register(fs)
}

// Check returns an error naming the first invalid setting.
func (c *EdgeConfig) Check() error {
	if err := c.Redis.Check(); err != nil {
		return err
	}
	for flag, addr := range map[string]string{"--listen": c.Listen, "--admin-listen": c.AdminListen} {
		if err := checkAddr(flag, addr); err != nil {
			return err
		}
	}
	if err := c.RedirectFlags.Check(); err != nil {
		return err
	}
	if err := c.Events.Check(); err != nil {
		return err
	}
	if c.ResyncInterval < 0 || c.NegativeTTL < 0 || c.FallbackTimeout <= 0 || c.ShutdownTimeout < 0 {
		return errors.New("durations must not be negative (and --fallback-timeout must be positive)")
	}
	if c.SnapshotInterval < time.Second {
		return errors.New("--snapshot-interval must be at least 1s")
	}
	if c.FallbackRate < 1 {
		return errors.New("--fallback-rate must be at least 1")
	}
	if err := c.HTTP.Check(); err != nil {
		return err
	}
	return c.logFlags.Check()
}

func runEdge(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := DefaultEdgeConfig()
	return runDaemon(ctx, "edge", "qredge edge --redis ADDR [flags]", &cfg, args, stderr, func() time.Duration { return cfg.ShutdownTimeout },
		func(log *slog.Logger) (daemon, error) {
			d := &Edge{Config: cfg, Log: log}
			return d, d.Open()
		})
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
	sink     *kafka.Writer
	geo      *geoip.DB
	ln       net.Listener
	srv      *fasthttp.Server
	served   chan error
	admin    *adminServer
	stopping atomic.Bool
	hosts    *hostSet
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
	if e.Log == nil {
		e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.store, err = redisstore.New(cfg.Redis.config()); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			e.closeAll()
		}
	}()
	e.table = redirect.NewTable()
	rcfg := cfg.RedirectFlags.config()
	if e.geo, err = cfg.RedirectFlags.openGeoIP(e.Log); err != nil {
		return err
	}
	if e.geo != nil {
		rcfg.Countries = e.geo
	}
	if cfg.Events.Kafka == "" {
		e.Log.Warn("no --kafka: scan events are kept in the local spool only, until an edge with --kafka replays them", "spool_dir", cfg.Events.SpoolDir)
	}
	if e.events, e.sink, err = cfg.Events.start(e.Log, rcfg.Countries); err != nil {
		return err
	}
	rcfg.Events = e.events.Queue()
	var src redirect.Source = e.store
	if e.slowSource != nil {
		src = e.slowSource(src)
	}
	rcfg.Fallback = redirect.FallbackConfig{Source: src, NegativeTTL: cfg.NegativeTTL, Timeout: cfg.FallbackTimeout, MaxPerSecond: cfg.FallbackRate}
	e.handler = redirect.NewHandler(rcfg, e.table)
	scfg := redisstore.SyncConfig{ResyncInterval: cfg.ResyncInterval, Log: e.Log,
		SharedSnapshots: cfg.SharedSnapshots, SnapshotInterval: cfg.SnapshotInterval, Owner: processOwner()}
	if cfg.SnapshotDir != "" {
		if err := os.MkdirAll(cfg.SnapshotDir, 0o755); err != nil {
			return fmt.Errorf("--snapshot-dir: %w", err)
		}
		scfg.SnapshotFile = filepath.Join(cfg.SnapshotDir, "links.snap")
	}
	e.syncer = redisstore.NewSyncer(e.store, e.table, scfg)
	e.syncer.Start()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		e.handler.Metrics(), buildInfo(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_links", Help: "Links in the in-memory table."},
			func() float64 { return float64(e.table.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_ready", Help: "1 once the table is loaded (from a snapshot or from Redis): what turns /readyz to 200."},
			func() float64 {
				if e.table.Ready() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_tombstones", Help: "Deletes the table remembers, so that an answer from Redis older than a delete cannot bring the link back."},
			func() float64 { return float64(e.table.Tombstones()) }))
	registerSyncMetrics(reg, e.syncer)
	registerFallbackMetrics(reg, e.handler.FallbackStats())
	registerEventMetrics(reg, e.events)
	if e.admin, err = startAdmin(cfg.AdminListen, e.readiness, reg, e.Log, e.exportRoute); err != nil {
		return err
	}
	if e.ln, err = cfg.HTTP.listen(cfg.Listen); err != nil {
		return err
	}
	e.hosts = cfg.HTTP.hostSet()
	registerHTTPMetrics(reg, e.ln, e.hosts)
	e.srv = &fasthttp.Server{
		Handler:              e.serve,
		ErrorHandler:         httpRequestError,
		NoDefaultContentType: true,
		MaxRequestBodySize:   edgeMaxRequestBody,
		CloseOnShutdown:      true,
		Logger:               fasthttpLogger{e.Log},
	}
	cfg.HTTP.fasthttpLimits(e.srv)
	e.served = make(chan error, 1)
	go func() { e.served <- e.srv.Serve(e.ln) }()
	e.Log.Info("listening", "addr", e.ln.Addr().String(), "redis", cfg.Redis.Addr, "redis_mode", e.store.Mode())
	return nil
}

var (
	loadingBody = []byte("loading links; try again in a moment\n")
	strOne      = []byte("1")
)

func (e *Edge) serve(ctx *fasthttp.RequestCtx) {
	if !e.hosts.allowed(ctx.Host()) {
		writeMisdirected(ctx)
		return
	}
	if !e.table.Ready() && !e.Config.ServeWhileLoading {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.SetBytesV("Retry-After", strOne)
		ctx.SetContentTypeBytes(textPlain)
		ctx.Response.SetBodyRaw(loadingBody)
		return
	}
	e.handler.Serve(ctx)
}

// readiness: ready once every link is loaded; degraded (still ready, the
// table serves) while Redis is unreachable.
func (e *Edge) readiness() (bool, string) {
	switch {
	case e.stopping.Load():
		return false, "shutting down"
	case !e.table.Ready():
		if lost, reason, _ := e.syncer.DatasetLost(); lost {
			return false, "not loading: the link dataset in redis looks lost (" + reason + "); see docs/runbook.md#qredgeredisdatasetlost"
		}
		if src, done, total := e.syncer.LoadProgress(); src != "" {
			if total > 0 {
				return false, fmt.Sprintf("loading links from %s: %d of %d (%d%%)", src, done, total, done*100/total)
			}
			return false, fmt.Sprintf("loading links from %s: %d", src, done)
		}
		return false, "loading links from redis"
	}
	n := strconv.Itoa(e.table.Len())
	if lost, reason, since := e.syncer.DatasetLost(); lost {
		return true, "ready: " + n + " links; degraded: the link dataset in redis looks lost since " + since.UTC().Format(time.RFC3339) +
			" (" + reason + "); serving the links held in memory and refusing to reload; see docs/runbook.md#qredgeredisdatasetlost"
	}
	if up, since := e.syncer.Health(); !up {
		if st := e.syncer.Stats(); st.SnapshotLoads["local"] > 0 && st.Reloads == 0 && st.Applied == 0 {
			return true, "ready: " + n + " links from the local snapshot; degraded: redis unreachable since " + since.UTC().Format(time.RFC3339) + ", changes since the snapshot not applied yet"
		}
		return true, "ready: " + n + " links; degraded: redis unreachable since " + since.UTC().Format(time.RFC3339) + ", serving from memory"
	}
	return true, "ready: " + n + " links; redis ok"
}

// Close stops taking scans, lets in-flight ones finish, and stops.
func (e *Edge) Close() error {
	e.stopping.Store(true)
	var err error
	if e.srv != nil {
		err = shutdownServer(e.srv, e.ln, e.served, e.Config.ShutdownTimeout)
	}
	e.closeAll()
	e.Log.Info("stopped")
	return err
}

func (e *Edge) closeAll() {
	if e.admin != nil {
		e.admin.Close()
	}
	if e.syncer != nil {
		e.syncer.Stop()
		if err := e.syncer.SaveLocalSnapshot(); err != nil {
			e.Log.Warn("local snapshot not written at shutdown", "err", err)
		}
	}
	if e.events != nil {
		// Every queued event is published or spooled before we return.
		e.events.Close()
	}
	if e.sink != nil {
		// Bounded (kafka.CloseTimeout): a stalled broker cannot hold
		// the shutdown; what it did not acknowledge is in the spool.
		if err := e.sink.Close(); err != nil {
			e.Log.Warn("closing the Kafka writer", "err", err)
		}
	}
	if e.geo != nil {
		e.geo.Close()
	}
	if e.ln != nil && e.srv == nil {
		e.ln.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
}

func registerSyncMetrics(reg *prometheus.Registry, y *redisstore.Syncer) {
	counter := func(name, help string, f func(redisstore.SyncStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(y.Stats())) })
	}
	reg.MustRegister(
		counter("qredge_feed_changes_applied_total", "Changes applied from the Redis change stream.", func(s redisstore.SyncStats) uint64 { return s.Applied }),
		counter("qredge_feed_reloads_total", "Full reloads of the table from Redis (start, and gaps in the stream).", func(s redisstore.SyncStats) uint64 { return s.Reloads }),
		counter("qredge_resyncs_total", "Periodic full comparisons with Redis.", func(s redisstore.SyncStats) uint64 { return s.Resyncs }),
		counter("qredge_resync_differences_total", "Links a resync found different from Redis and fixed (should stay 0).", func(s redisstore.SyncStats) uint64 { return s.ResyncDiffs }),
		counter("qredge_redis_errors_total", "Failed reads of the change feed.", func(s redisstore.SyncStats) uint64 { return s.Errors }),
		counter("qredge_reload_refused_total", "Reloads of the table refused because the link dataset in Redis looks lost (empty, another dataset, or behind the table).", func(s redisstore.SyncStats) uint64 { return s.Refused }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_dataset_lost", Help: "1 while the link dataset in Redis looks lost and the table is kept as it is (QredgeRedisDatasetLost)."},
			func() float64 {
				if y.Stats().DatasetLost {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_redis_up", Help: "1 while Redis answers, 0 while the edge serves from memory only."},
			func() float64 {
				if y.Stats().RedisUp {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_load_seconds", Help: "Duration of the last full load of the table."},
			func() float64 { return y.Stats().LastLoadDur.Seconds() }),
		counter("qredge_snapshot_loads_shared_total", "Starts from the shared snapshot in Redis.", func(s redisstore.SyncStats) uint64 { return s.SnapshotLoads["shared"] }),
		counter("qredge_snapshot_loads_local_total", "Starts from the local snapshot (--snapshot-dir).", func(s redisstore.SyncStats) uint64 { return s.SnapshotLoads["local"] }),
		counter("qredge_snapshots_refused_total", "Snapshots refused at start (damaged, stale, or of another dataset); the links were loaded another way.", func(s redisstore.SyncStats) uint64 { return s.SnapshotsRefused }),
		counter("qredge_snapshots_written_total", "Local snapshots written.", func(s redisstore.SyncStats) uint64 { return s.SnapshotsWritten }),
		counter("qredge_snapshots_published_total", "Shared snapshots this edge published to Redis.", func(s redisstore.SyncStats) uint64 { return s.SnapshotsShared }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_snapshot_bytes", Help: "Size of the last snapshot this edge wrote (compressed)."},
			func() float64 { return float64(y.Stats().LastSnapshotBytes) }),
	)
}

// processOwner names this process among the edges (the snapshot
// publishing lock).
func processOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", h, os.Getpid())
}

func registerFallbackMetrics(reg *prometheus.Registry, st *redirect.FallbackStats) {
	if st == nil {
		return
	}
	desc := prometheus.NewDesc("qredge_fallback_total", "Scans of codes missing from the table, by what happened.", []string{"result"}, nil)
	reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		for _, r := range []struct {
			name string
			v    uint64
		}{{"lookup", st.Lookups.Load()}, {"found", st.Found.Load()}, {"negative_hit", st.NegativeHit.Load()},
			{"rate_limited", st.Limited.Load()}, {"shared", st.Shared.Load()}, {"error", st.Errors.Load()}} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(r.v), r.name)
		}
	}})
}

// collectorFunc is a prometheus.Collector from a function.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
