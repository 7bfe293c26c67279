package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/analytics/redisagg"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store/redisstore"
)

// AnalyticsConfig is the configuration of 'qredge analytics'.
type AnalyticsConfig struct {
	Redis        cli.RedisFlags
	Kafka        kafka.ConsumerConfig // --kafka*, --batch-size, --linger, --start-latest
	DedupeWindow time.Duration
	Retention    aggregate.Retention
	StartPaused  bool
	processFlags // --admin-listen, --shutdown-timeout, --log-*
}

// DefaultAnalyticsConfig returns the defaults of 'qredge analytics'.
func DefaultAnalyticsConfig() AnalyticsConfig {
	return AnalyticsConfig{Redis: cli.DefaultRedisFlags(), Kafka: kafka.DefaultConsumerConfig(), DedupeWindow: redisagg.DefaultConfig().DedupeWindow,
		Retention: aggregate.DefaultRetention(), processFlags: defaultProcessFlags("", ":9095")}
}

func (c *AnalyticsConfig) RegisterFlags(fs flagRegistrar) {
	c.Redis.Register(fs)
	c.Kafka.RegisterFlags(fs)
	fs.DurationVar(&c.DedupeWindow, "dedupe-window", c.DedupeWindow, "how long event ids are remembered to drop duplicates sent by edges after Kafka timeouts; 0 turns it off")
	c.Retention.RegisterFlags(fs)
	fs.BoolVar(&c.StartPaused, "start-paused", c.StartPaused, "start with the brake engaged (resume with POST /analytics/resume or SIGUSR2)")
	c.processFlags.Register(fs)
}

// Check returns an error naming the first invalid setting.
func (c *AnalyticsConfig) Check() error {
	return cli.Check(c.Redis.Check, c.Kafka.Check, func() error {
		if c.DedupeWindow < 0 {
			return errors.New("--dedupe-window must not be negative")
		}
		return nil
	}, c.Retention.Check, c.processFlags.Check)
}

func runAnalytics(ctx context.Context, args []string, stderr io.Writer) error {
	a := &AnalyticsServer{Config: DefaultAnalyticsConfig()}
	return runDaemon(ctx, "analytics", "qredge analytics --redis ADDR --kafka BROKERS [flags]", &a.Config, &a.Log, args, stderr, func() error { return a.Open(ctx) }, a.Close)
}

// AnalyticsServer is 'qredge analytics': one member of the consumer group
// that aggregates scan events into Redis.
type AnalyticsServer struct {
	Config AnalyticsConfig
	Log    *slog.Logger

	client   *redisstore.Store
	agg      *redisagg.Store
	consumer *kafka.Consumer
	metrics  *aggregate.Metrics
	brake    *aggregate.Brake
	admin    *front.Admin
	run      *kafka.Runner
	closers  cli.Closers
}

// AdminAddr is the admin listener's address.
func (a *AnalyticsServer) AdminAddr() string { return a.admin.Addr() }

// Brake returns the emergency brake.
func (a *AnalyticsServer) Brake() *aggregate.Brake { return a.brake }

// Open connects to Redis (it must answer at start) and joins the group.
func (a *AnalyticsServer) Open(ctx context.Context) (err error) {
	cfg := a.Config
	a.Log = cli.OrDiscard(a.Log)
	if a.client, err = redisstore.Open(ctx, cfg.Redis.Config()); err != nil {
		return err
	}
	a.closers.Add(a.client.Close)
	defer a.closers.CloseOnError(&err)
	ac := redisagg.DefaultConfig()
	ac.Prefix, ac.Retention, ac.DedupeWindow = cfg.Redis.Prefix, cfg.Retention, cfg.DedupeWindow
	a.agg = redisagg.New(a.client.Client(), ac)
	a.metrics = aggregate.NewMetrics()
	a.brake = aggregate.NewBrake(a.metrics.Paused)
	if cfg.StartPaused {
		a.brake.Pause()
	}
	if a.consumer, err = kafka.NewConsumer(ctx, cfg.Kafka, (&aggregate.Limits{Stats: a.agg, Links: a.client, Log: a.Log}).Watch(a.agg), a.metrics, a.brake, a.Log); err != nil {
		return err
	}
	a.client.WarnEviction(ctx, a.Log)
	reg := front.NewRegistry(buildInfo())
	reg.MustRegister(a.metrics.Collectors()...)
	reg.MustRegister(a.consumer.Collectors()...)
	if a.admin, err = front.StartAdmin(cfg.AdminListen, a.readiness, reg, a.Log, a.brake.Routes(a.Log, func() any {
		return map[string]any{"partitions": a.consumer.Assigned()}
	})); err != nil {
		return err
	}
	a.closers.Add(a.admin.Close)
	a.closers.AddFunc(a.brake.WatchSignals(a.Log))
	a.run = a.consumer.Start()
	a.Log.Info("consuming", "kafka", strings.Join(cfg.Kafka.Kafka.Brokers, ","), "topic", cfg.Kafka.Kafka.Topic, "group", cfg.Kafka.Group, "redis", cfg.Redis.Addr,
		"redis_mode", a.client.Mode(), "paused", a.brake.Paused())
	return nil
}

// readiness: not ready while Redis is unreachable or the consumer has
// stopped; else the group membership's (kafka.Membership.Readiness).
func (a *AnalyticsServer) readiness() (bool, string) {
	return a.run.Readiness(a.client.Ping, "redis unreachable: batches wait and are retried", a.brake.Paused())
}

// Close leaves the group (the batch in hand is applied or abandoned
// whole) and stops.
func (a *AnalyticsServer) Close() error {
	if a.run != nil && !a.run.Stop(a.Config.ShutdownTimeout) {
		a.Log.Warn("consumer did not stop in time")
	}
	a.closers.Close()
	a.Log.Info("stopped")
	return nil
}
