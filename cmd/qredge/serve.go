package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/localagg"
	"github.com/qredge/qredge/analytics/webhook"
	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// ServeConfig is the configuration of 'qredge serve'.
type ServeConfig struct {
	processFlags // --listen, --admin-listen (none by default), --shutdown-timeout, --log-*
	DataDir      string
	API          api.Config         // --public-url, --api-key, --max-body-bytes, --max-bulk-body-bytes, --rate-limit, --rate-burst
	Policy       store.PolicyConfig // --deny-destinations, --short-domains, --allow-http
	Redirect     redirect.Config
	Events       analytics.Config // --spool-dir, --spool-max-bytes, --ip-hash-secret, --node-id
	Retention    aggregate.Retention
	HTTP         front.Config
	Webhook      webhook.Config // --webhook-*
}

// DefaultServeConfig returns the defaults of 'qredge serve'.
func DefaultServeConfig() ServeConfig {
	return ServeConfig{
		processFlags: defaultProcessFlags(":8080", ""),
		DataDir:      "./qredge-data",
		Policy:       store.DefaultPolicyConfig(),
		Redirect:     redirect.DefaultConfig(),
		Events:       defaultEvents(""),
		Retention:    aggregate.DefaultRetention(),
		API:          serveAPIConfig(),
		HTTP:         front.DefaultConfig(100000),
		Webhook:      webhook.DefaultConfig(),
	}
}

// serveAPIConfig returns the API's defaults but the public URL, which
// serve derives from --listen.
func serveAPIConfig() api.Config {
	c := api.DefaultConfig()
	c.PublicURL = ""
	return c
}

// Check returns an error naming the first invalid setting.
func (c *ServeConfig) Check() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	if c.Events.SpoolDir == "" {
		c.Events.SpoolDir = filepath.Join(c.DataDir, "spool")
	}
	return cli.Check(c.processFlags.Check, c.API.Check, c.Policy.Check, c.Redirect.Check, c.Events.Check, c.Retention.Check, c.HTTP.Check, c.Webhook.Check)
}

func (c *ServeConfig) RegisterFlags(fs flagRegistrar) {
	c.processFlags.Register(fs)
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded store")
	c.API.RegisterFlags(fs, true)
	cli.Register(fs, c.Policy.RegisterFlags, c.Redirect.RegisterFlags, c.Events.RegisterFlags, c.Retention.RegisterFlags, c.HTTP.RegisterFlags,
		c.Webhook.RegisterFlags)
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	s := &Serve{Config: DefaultServeConfig(), Stderr: stderr}
	return runDaemon(ctx, "serve", "qredge serve [flags]", &s.Config, &s.Log, args, stderr, func() error { return s.Open(ctx) }, s.Close)
}

// Serve is the whole product in one process: the embedded store, the
// redirect table and handler, and the API, on one listener. Tests start it
// with the same code as the command.
type Serve struct {
	Config ServeConfig
	Log    *slog.Logger
	Stderr io.Writer // where the bootstrap key line goes

	db       *boltstore.DB
	events   *analytics.Pipeline
	table    *redirect.Table
	ln       net.Listener
	srv      *fasthttp.Server
	served   chan error
	stopping atomic.Bool

	agg        *localagg.Aggregator
	aggMetrics *aggregate.Metrics
	brake      *aggregate.Brake
	admin      *front.Admin
	router     *front.Router
	closers    cli.Closers
}

// AdminAddr returns the admin listener's address ("" without one).
func (s *Serve) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

// Brake returns the embedded aggregator's emergency brake.
func (s *Serve) Brake() *aggregate.Brake { return s.brake }

// Addr returns the address the server listens on, once Open returned.
func (s *Serve) Addr() string { return s.ln.Addr().String() }

// Open opens the store, loads every link into the table, and starts
// serving. It returns once the server accepts connections.
func (s *Serve) Open(ctx context.Context) (err error) {
	cfg := s.Config
	s.Log = cli.OrDiscard(s.Log)
	if s.db, err = boltstore.Open(cfg.DataDir); err != nil {
		return err
	}
	s.closers.Add(func() error {
		if err := s.db.Close(); err != nil {
			return fmt.Errorf("cannot close store: %w", err)
		}
		return nil
	})
	defer s.closers.CloseOnError(&err)
	// Damage the check at start found in the stats' buckets (the store
	// refuses damage in its own) turns stats off, not the process.
	statsDamage := s.db.Report().LogAtStart(s.Log)

	// Load the table before listening: no request is served from a
	// partial table. Subscribe first; nothing writes before we listen.
	s.table = redirect.NewTable()
	s.db.Subscribe(s.table.Apply)
	start := time.Now()
	if err = s.table.LoadStored(func(batch func(keys, recs [][]byte) error) error { return s.db.LoadLinksBinary(ctx, 0, batch) }); err != nil {
		return fmt.Errorf("cannot load links: %w", err)
	}
	s.Log.Info("links loaded", "count", s.table.Len(), "duration", time.Since(start).Round(time.Microsecond), "data_dir", cfg.DataDir)
	// Links still in the JSON form of older files are rewritten in the
	// binary form in the background, now that the table no longer waits.
	s.db.ConvertLinks(s.Log)

	if s.ln, err = cfg.HTTP.Listen(cfg.Listen); err != nil {
		return err
	}
	s.closers.AddFunc(func() { s.ln.Close() })
	publicURL := cfg.API.PublicURL
	if publicURL == "" {
		publicURL = api.DefaultPublicURL(s.ln.Addr().String())
	}
	// With --hosts, scans for the public URL's host are answered too.
	var publicHost string
	if u, err := url.Parse(publicURL); err == nil {
		publicHost = u.Hostname()
	}
	hosts := cfg.HTTP.AcceptedHosts(publicHost)

	rcfg := cfg.Redirect
	if rcfg.Countries, err = openGeoIP(rcfg.GeoIPDB, s.Log, &s.closers); err != nil {
		return err
	}
	// The embedded mode keeps every scan event in the spool (by default
	// <data-dir>/spool, set by Check): the log the in-process aggregator
	// reads, counting into the same bbolt file as the links.
	if s.events, err = startEvents(cfg.Events, nil, s.Log, rcfg.Countries, &s.closers); err != nil {
		return err
	}
	rcfg.Events = s.events.Queue()
	s.aggMetrics = aggregate.NewMetrics()
	s.brake = aggregate.NewBrake(s.aggMetrics.Paused)
	wh, err := webhook.StartEmbedded(cfg.Webhook, s.db, s.db, s.db, s.table.Tags, s.Log)
	if err != nil {
		return err
	}
	s.closers.Add(wh.Close) // after the aggregator, which taps scans for it
	lc := localagg.DefaultConfig()
	lc.Retention, lc.Tap = cfg.Retention, wh.Tap
	lc.Damaged = statsDamage
	if s.agg, err = localagg.Open(s.db.Bolt(), s.events.Spool(), lc, s.aggMetrics, s.brake, s.Log); err != nil {
		return fmt.Errorf("cannot open the embedded analytics: %w", err)
	}
	rcfg.Limiter = s.agg.Limiter(s.db) // exact scan limits
	s.agg.Start()
	// Before the pipeline, which closes the spool the aggregator reads.
	// Events not counted yet are counted at the next start.
	s.closers.AddFunc(func() { s.agg.Close() })
	s.closers.AddFunc(s.brake.WatchSignals(s.Log))

	panics := prometheus.NewCounter(prometheus.CounterOpts{Name: "qredge_http_panics_total", Help: "Requests that ended in a recovered panic (bugs)."})
	rh := redirect.NewHandler(rcfg, s.table)
	apiMetrics := front.NewAPIMetrics()
	reg := front.NewRegistry(
		rh.Metrics(), panics,
		s.table.LinksGauge(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_stats_store_failed", Help: "1 when the stats store is damaged and stats are off (redirects and the API go on); see docs/reliability.md."},
			func() float64 { return b2f(s.agg.Failed() != nil) }),
		buildInfo(),
	)
	reg.MustRegister(apiMetrics.Collectors()...)
	reg.MustRegister(s.events.Collectors()...)
	front.RegisterMetrics(reg, s.ln, hosts)
	reg.MustRegister(append(s.aggMetrics.Collectors(), wh.Collectors()...)...)
	policy, err := cfg.Policy.NewPolicy(publicURL)
	if err != nil {
		return err
	}
	reg.MustRegister(front.PolicyViolations(policy))
	s.closers.AddFunc(api.StartPolicyScan(ctx, policy, s.db.ForEachLink, s.Log))
	apiCfg := cfg.API
	apiCfg.PublicURL, apiCfg.Observe, apiCfg.Resolver = publicURL, apiMetrics.Observe, front.Resolver{H: rh}
	apiCfg.CookieSecure = cfg.Redirect.CookieSecure
	apiCfg.Webhooks, apiCfg.Deliveries, apiCfg.OnWebhookChange, apiCfg.WebhookAllowPrivate = s.db, s.db, wh.Reload, cfg.Webhook.AllowPrivate
	apiCfg.Stats, apiCfg.Brake, apiCfg.Policy, apiCfg.Backup = s.agg, s.brake, policy, api.BackupHandler(s.db, s.Log)
	if cfg.AdminListen != "" {
		if s.admin, err = front.StartAdmin(cfg.AdminListen, s.readiness, reg, s.Log); err != nil {
			return err
		}
		s.closers.Add(s.admin.Close)
	}
	s.router = &front.Router{API: api.NewServer(apiCfg, s.db, s.Log), UI: apiCfg.UI, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Readiness: s.readiness, Hosts: hosts, Redirect: rh, MaxBodyBytes: cfg.API.MaxBodyBytes, MaxBulkBodyBytes: cfg.API.MaxBulkBodyBytes,
		Panics: panics, Log: s.Log}
	s.srv = s.router.Server(&cfg.HTTP)
	// The bootstrap key is made only now, with the listener bound and
	// everything else started: a start that fails uses no key up.
	if err := s.ensureAdminKey(ctx); err != nil {
		return err
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(s.ln) }()
	s.Log.Info("listening", "addr", s.ln.Addr().String(), "public_url", publicURL)
	if w := api.PublicURLWarning(publicURL, s.ln.Addr()); w != "" {
		s.Log.Warn(w)
	}
	return nil
}

// ensureAdminKey prints a new admin key on the first start, and on every
// later start without --api-key says how to make one, in case the first
// one is lost.
func (s *Serve) ensureAdminKey(ctx context.Context) error {
	secret, err := api.EnsureAdminKey(ctx, s.db, s.Config.API.AdminKey != "")
	if err != nil {
		return fmt.Errorf("cannot create the bootstrap API key: %w", err)
	}
	switch {
	case secret != "":
		if s.Stderr != nil {
			fmt.Fprintf(s.Stderr, "api key: %s\n", secret)
		}
		s.Log.Info("created an admin API key; it is shown once, above. Create more with 'qredge apikey create'")
	case s.Config.API.AdminKey == "":
		s.Log.Info("API keys are in the store and none is printed; without one at hand, stop qredge and run 'qredge apikey create --name admin --scope admin --data-dir " +
			s.Config.DataDir + "', or start with --api-key")
	}
	return nil
}

// b2f is 1 for true, for gauges.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readiness says whether serve takes traffic, and why, for /readyz on
// both listeners.
func (s *Serve) readiness() (bool, string) {
	switch {
	case s.stopping.Load():
		return false, "shutting down"
	case !s.table.Ready():
		return false, "loading links"
	}
	// Stats off is degraded, not unready: scans and the API work.
	msg := "ready: " + strconv.Itoa(s.table.Len()) + " links"
	if err := s.agg.Failed(); err != nil {
		msg += "\ndegraded: the stats store failed (stats are off; see docs/reliability.md): " + err.Error()
	}
	return true, msg
}

// Close stops accepting requests, waits for in-flight ones (up to the
// shutdown timeout) and closes the store. Every write that was answered is
// on disk.
func (s *Serve) Close() error {
	s.stopping.Store(true)
	var err error
	if s.srv != nil {
		err = front.Shutdown(s.srv, s.ln, s.served, s.Config.ShutdownTimeout)
	}
	err = errors.Join(err, s.closers.Close())
	s.Log.Info("stopped")
	return err
}
