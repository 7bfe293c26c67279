package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/qredge/qredge/analytics/redisagg"
	"github.com/qredge/qredge/analytics/webhook"
	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/redisstore"
)

// APIConfig is the configuration of 'qredge api'.
type APIConfig struct {
	Redis        cli.RedisFlags
	processFlags                    // --listen, --admin-listen, --shutdown-timeout, --log-*
	API          api.Config         // --public-url, --api-key, --max-body-bytes, --max-bulk-body-bytes, --rate-limit, --rate-burst
	Policy       store.PolicyConfig // --deny-destinations, --short-domains, --allow-http
	GeoIPDB      string
	HTTP         front.Config
}

// DefaultAPIConfig returns the defaults of 'qredge api'.
func DefaultAPIConfig() APIConfig {
	return APIConfig{Redis: cli.DefaultRedisFlags(), Policy: store.DefaultPolicyConfig(), processFlags: defaultProcessFlags(":8081", ":9091"), API: api.DefaultConfig(),
		HTTP: front.DefaultConfig(10000)}
}

func (c *APIConfig) RegisterFlags(fs flagRegistrar) {
	c.Redis.Register(fs)
	c.processFlags.Register(fs)
	c.API.RegisterFlags(fs, false)
	c.Policy.RegisterFlags(fs)
	fs.StringVar(&c.GeoIPDB, "geoip-db", c.GeoIPDB, "MaxMind-format database, for the ip parameter of the resolve endpoint")
	webhook.RegisterAllowPrivate(fs, &c.API.WebhookAllowPrivate)
	c.HTTP.RegisterFlags(fs)
}

// Check returns an error naming the first invalid setting.
func (c *APIConfig) Check() error {
	return cli.Check(c.Redis.Check, c.processFlags.Check, c.Policy.Check, c.API.Check, c.HTTP.Check)
}

func runAPI(ctx context.Context, args []string, stderr io.Writer) error {
	a := &APIServer{Config: DefaultAPIConfig(), Stderr: stderr}
	return runDaemon(ctx, "api", "qredge api --redis ADDR [flags]", &a.Config, &a.Log, args, stderr, func() error { return a.Open(ctx) }, a.Close)
}

// APIServer is 'qredge api': the REST API over Redis, plus an admin
// listener.
type APIServer struct {
	Config APIConfig
	Log    *slog.Logger
	Stderr io.Writer

	store   *redisstore.Store
	ln      net.Listener
	srv     *http.Server
	admin   *front.Admin
	closers cli.Closers
}

// Addr is the API's address; AdminAddr the admin listener's.
func (a *APIServer) Addr() string      { return a.ln.Addr().String() }
func (a *APIServer) AdminAddr() string { return a.admin.Addr() }

// Open connects to Redis (it must answer at start), creates the bootstrap
// key if needed and starts both listeners.
func (a *APIServer) Open(ctx context.Context) (err error) {
	cfg := a.Config
	a.Log = cli.OrDiscard(a.Log)
	if a.store, err = redisstore.Open(ctx, cfg.Redis.Config()); err != nil {
		return err
	}
	a.closers.Add(a.store.Close)
	defer a.closers.CloseOnError(&err)
	// Remember the link dataset: if Redis comes back without it, writes
	// are refused instead of starting a new, empty one.
	if id, err := a.store.EnsureDataset(ctx); err != nil {
		return fmt.Errorf("cannot read the link dataset's id: %w", err)
	} else if id != "" {
		a.Log.Info("link dataset", "id", id)
	}
	a.closers.AddFunc(a.store.StartConvert(a.Log))
	secret, err := api.EnsureAdminKey(ctx, a.store, cfg.API.AdminKey != "")
	if err != nil {
		return fmt.Errorf("cannot create the bootstrap API key: %w", err)
	}
	if secret != "" && a.Stderr != nil {
		fmt.Fprintf(a.Stderr, "api key: %s\n", secret)
		a.Log.Info("created an admin API key in Redis; it is shown once, above")
	}
	// The resolve endpoint evaluates links with the hot path's own code.
	rcfg := redirect.DefaultConfig()
	if rcfg.Countries, err = openGeoIP(cfg.GeoIPDB, a.Log, &a.closers); err != nil {
		return err
	}
	apiMetrics := front.NewAPIMetrics()
	reg := front.NewRegistry(buildInfo())
	reg.MustRegister(apiMetrics.Collectors()...)
	// Stats are read from the aggregates qredge analytics writes under the
	// same --redis-prefix.
	ac := redisagg.DefaultConfig()
	ac.Prefix = cfg.Redis.Prefix
	policy, err := cfg.Policy.NewPolicy(cfg.API.PublicURL)
	if err != nil {
		return err
	}
	reg.MustRegister(front.PolicyViolations(policy))
	a.closers.AddFunc(api.StartPolicyScan(ctx, policy, a.store.ForEachLink, a.Log))
	apiCfg := cfg.API
	apiCfg.Observe, apiCfg.Resolver = apiMetrics.Observe, front.Resolver{H: redirect.NewHandler(rcfg, redirect.NewTable())}
	apiCfg.Stats, apiCfg.Policy = redisagg.New(a.store.Client(), ac), policy
	apiCfg.Webhooks, apiCfg.Deliveries = a.store, a.store // qredge webhooks delivers them
	if a.admin, err = front.StartAdmin(cfg.AdminListen, a.store.WriterReadiness, reg, a.Log); err != nil {
		return err
	}
	a.closers.Add(a.admin.Close)
	if a.ln, err = cfg.HTTP.Listen(cfg.Listen); err != nil {
		return err
	}
	a.closers.Add(a.ln.Close)
	hosts := cfg.HTTP.AcceptedHosts()
	front.RegisterMetrics(reg, a.ln, hosts)
	a.srv = cfg.HTTP.HTTPServer(front.CheckHost(hosts, api.NewServer(apiCfg, a.store, a.Log)))
	go func() {
		if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("api listener failed", "err", err)
		}
	}()
	a.Log.Info("listening", "addr", a.ln.Addr().String(), "redis", cfg.Redis.Addr, "redis_mode", a.store.Mode(), "public_url", cfg.API.PublicURL)
	if w := api.PublicURLWarning(cfg.API.PublicURL, a.ln.Addr()); w != "" {
		a.Log.Warn(w)
	}
	return nil
}

// Close lets in-flight requests finish and stops.
func (a *APIServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	var err error
	if a.srv != nil {
		err = a.srv.Shutdown(ctx)
	}
	a.closers.Close()
	a.Log.Info("stopped")
	return err
}
