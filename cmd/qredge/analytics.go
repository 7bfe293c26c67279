package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/analytics/redisagg"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store/redisstore"
)

// AnalyticsConfig is the configuration of 'qredge analytics'.
type AnalyticsConfig struct {
	Redis         cli.RedisFlags
	Kafka         string
	KafkaTopic    string
	KafkaGroup    string
	KafkaTLS      bool
	KafkaSASL     string
	KafkaUser     string
	KafkaPassword string
	KafkaSession  time.Duration
	BatchSize     int
	Linger        time.Duration
	StartLatest   bool
	DedupeWindow  time.Duration
	Retention     aggregate.Retention
	StartPaused   bool
	processFlags  // --admin-listen, --shutdown-timeout, --log-*
}

// DefaultAnalyticsConfig returns the defaults of 'qredge analytics'.
func DefaultAnalyticsConfig() AnalyticsConfig {
	k := kafka.DefaultConsumerConfig()
	return AnalyticsConfig{Redis: cli.DefaultRedisFlags(), KafkaTopic: k.Kafka.Topic, KafkaGroup: k.Group, KafkaSession: k.SessionTimeout,
		BatchSize: k.BatchSize, Linger: k.Linger, DedupeWindow: redisagg.DefaultConfig().DedupeWindow,
		Retention: aggregate.DefaultRetention(), processFlags: defaultProcessFlags("", ":9095")}
}

func (c *AnalyticsConfig) registerFlags(fs flagRegistrar) {
	c.Redis.Register(fs)
	fs.StringVar(&c.Kafka, "kafka", c.Kafka, "Kafka brokers to read scan events from, comma-separated")
	fs.StringVar(&c.KafkaTopic, "kafka-topic", c.KafkaTopic, "topic of scan events")
	fs.StringVar(&c.KafkaGroup, "kafka-group", c.KafkaGroup, "consumer group: processes with the same group share the partitions")
	fs.BoolVar(&c.KafkaTLS, "kafka-tls", c.KafkaTLS, "connect to Kafka with TLS")
	fs.StringVar(&c.KafkaSASL, "kafka-sasl", c.KafkaSASL, "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&c.KafkaUser, "kafka-user", c.KafkaUser, "SASL user")
	fs.StringVar(&c.KafkaPassword, "kafka-password", c.KafkaPassword, "SASL password; prefer the environment variable")
	fs.DurationVar(&c.KafkaSession, "kafka-session-timeout", c.KafkaSession, "how long the group waits for a silent member before giving its partitions to others")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most events applied to Redis in one batch (per partition)")
	fs.DurationVar(&c.Linger, "linger", c.Linger, "longest wait to fill a batch; adds to the freshness of stats")
	fs.BoolVar(&c.StartLatest, "start-latest", c.StartLatest, "partitions with no stored offset start at their end instead of their beginning")
	fs.DurationVar(&c.DedupeWindow, "dedupe-window", c.DedupeWindow, "how long event ids are remembered to drop duplicates sent by edges after Kafka timeouts; 0 turns it off")
	c.Retention.RegisterFlags(fs)
	fs.BoolVar(&c.StartPaused, "start-paused", c.StartPaused, "start with the brake engaged (resume with POST /analytics/resume or SIGUSR2)")
	c.processFlags.Register(fs)
}

func (c *AnalyticsConfig) consumerConfig() kafka.ConsumerConfig {
	k := kafka.DefaultConsumerConfig()
	k.Kafka.Brokers = kafka.ParseBrokers(c.Kafka)
	k.Kafka.Topic, k.Kafka.TLS, k.Kafka.SASLMech, k.Kafka.SASLUser, k.Kafka.SASLPassword = c.KafkaTopic, c.KafkaTLS, c.KafkaSASL, c.KafkaUser, c.KafkaPassword
	k.Group, k.BatchSize, k.Linger, k.StartLatest = c.KafkaGroup, c.BatchSize, c.Linger, c.StartLatest
	k.SessionTimeout = c.KafkaSession
	if k.SessionTimeout < 10*time.Second {
		k.HeartbeatInterval = k.SessionTimeout / 5
		k.RebalanceTimeout = 2 * k.SessionTimeout
	}
	return k
}

// Check returns an error naming the first invalid setting.
func (c *AnalyticsConfig) Check() error {
	if err := c.Redis.Check(); err != nil {
		return err
	}
	if c.Kafka == "" {
		return errors.New("--kafka is required (QREDGE_KAFKA), such as --kafka 127.0.0.1:9092")
	}
	if c.KafkaSession < 500*time.Millisecond {
		return errors.New("--kafka-session-timeout must be at least 500ms")
	}
	if err := c.consumerConfig().Check(); err != nil {
		return err
	}
	if c.DedupeWindow < 0 {
		return errors.New("--dedupe-window must not be negative")
	}
	if err := c.Retention.Check(); err != nil {
		return err
	}
	return c.processFlags.Check()
}

func runAnalytics(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := DefaultAnalyticsConfig()
	return runDaemon(ctx, "analytics", "qredge analytics --redis ADDR --kafka BROKERS [flags]", &cfg, args, stderr, func() time.Duration { return cfg.ShutdownTimeout },
		func(log *slog.Logger) (daemon, error) {
			d := &AnalyticsServer{Config: cfg, Log: log}
			return d, d.Open(ctx)
		})
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
	cancel   context.CancelFunc
	done     chan struct{}
	sigs     chan os.Signal
	runErr   atomic.Pointer[error]
	closeMu  sync.Once
}

// AdminAddr is the admin listener's address.
func (a *AnalyticsServer) AdminAddr() string { return a.admin.Addr() }

// Brake returns the emergency brake.
func (a *AnalyticsServer) Brake() *aggregate.Brake { return a.brake }

// Open connects to Redis (it must answer at start) and joins the group.
func (a *AnalyticsServer) Open(ctx context.Context) (err error) {
	cfg := a.Config
	if a.Log == nil {
		a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.client, err = redisstore.Open(ctx, cfg.Redis.Config()); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	ac := redisagg.DefaultConfig()
	ac.Prefix, ac.Retention, ac.DedupeWindow = cfg.Redis.Prefix, cfg.Retention, cfg.DedupeWindow
	a.agg = redisagg.New(a.client.Client(), ac)
	a.metrics = aggregate.NewMetrics()
	a.brake = aggregate.NewBrake(a.metrics.Paused)
	if cfg.StartPaused {
		a.brake.Pause()
	}
	if a.consumer, err = kafka.NewConsumer(ctx, cfg.consumerConfig(), a.agg, a.metrics, a.brake, a.Log); err != nil {
		return err
	}
	a.client.WarnEviction(ctx, a.Log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	reg.MustRegister(a.metrics.Collectors()...)
	reg.MustRegister(a.consumer.Collectors()...)
	if a.admin, err = front.StartAdmin(cfg.AdminListen, a.readiness, reg, a.Log, brakeRoutes(a.brake, a.Log, func() any {
		return map[string]any{"partitions": a.consumer.Assigned()}
	})); err != nil {
		return err
	}
	a.sigs = watchBrakeSignals(a.brake, a.Log)
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.consumer.Run(rctx); err != nil {
			a.runErr.Store(&err)
			a.Log.Error("consumer stopped", "err", err)
		}
	}()
	a.Log.Info("consuming", "kafka", cfg.Kafka, "topic", cfg.KafkaTopic, "group", cfg.KafkaGroup, "redis", cfg.Redis.Addr,
		"redis_mode", a.client.Mode(), "paused", a.brake.Paused())
	return nil
}

// readiness: not ready while Redis is unreachable or the consumer has
// stopped. A member holding no partitions stays ready, and says why: in a
// group with more members than the topic has partitions the extra members
// are healthy but idle (they take partitions over when another member
// leaves, and a rollout or a scale-up must not wait on them); a member
// joining, between generations, or unable to reach the group coordinator
// holds none for the time being, and /readyz names which.
func (a *AnalyticsServer) readiness() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.client.Ping(ctx); err != nil {
		return false, "redis unreachable: batches wait and are retried"
	}
	if err := a.runErr.Load(); err != nil {
		return false, "consumer stopped: " + (*err).Error()
	}
	m := a.consumer.Membership()
	switch {
	case m.InGroup && len(m.Partitions) > 0:
		state := "consuming"
		if a.brake.Paused() {
			state = "paused"
		}
		noun := "partitions"
		if len(m.Partitions) == 1 {
			noun = "partition"
		}
		return true, fmt.Sprintf("ready: %s %d %s %v", state, len(m.Partitions), noun, m.Partitions)
	case m.InGroup:
		return true, fmt.Sprintf("ready: idle, 0 partitions: the group has more members than the topic has partitions; this member takes some over when another leaves (generation %d)", m.Generation)
	case m.JoinErr != nil:
		return true, "ready: 0 partitions; degraded: not in the consumer group, cannot join it (" + m.JoinErr.Error() + "); retrying"
	case m.Generation == 0:
		return true, "ready: 0 partitions yet: joining the consumer group"
	}
	return true, "ready: 0 partitions for now: the consumer group is rebalancing"
}

// Close leaves the group (the batch in hand is applied or abandoned
// whole) and stops.
func (a *AnalyticsServer) Close() error {
	if a.cancel != nil {
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(a.Config.ShutdownTimeout):
			a.Log.Warn("consumer did not stop in time")
		}
	}
	a.closeAll()
	a.Log.Info("stopped")
	return nil
}

func (a *AnalyticsServer) closeAll() {
	a.closeMu.Do(func() {
		stopSignals(a.sigs)
		if a.admin != nil {
			a.admin.Close()
		}
		if a.client != nil {
			a.client.Close()
		}
	})
}

// brakeRoutes are the admin endpoints of the emergency brake:
// POST /analytics/pause, POST /analytics/resume and GET /analytics/status.
func brakeRoutes(b *aggregate.Brake, log *slog.Logger, extra func() any) func(mux *http.ServeMux) {
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

// stopSignals undoes watchBrakeSignals (nil is fine).
func stopSignals(ch chan os.Signal) {
	if ch != nil {
		signal.Stop(ch)
		close(ch)
	}
}

// watchBrakeSignals pauses on SIGUSR1 and resumes on SIGUSR2.
func watchBrakeSignals(b *aggregate.Brake, log *slog.Logger) chan os.Signal {
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
	return ch
}
