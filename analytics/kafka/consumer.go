package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
)

// Applier stores aggregates together with the offsets they include.
type Applier interface {
	// CheckTopic refuses aggregates built from another topic.
	CheckTopic(ctx context.Context, topic string) error
	// AddPartitions records partitions that hold aggregates.
	AddPartitions(ctx context.Context, parts []int) error
	// Offset returns the last offset applied for partition p.
	Offset(ctx context.Context, p int) (last int64, ok bool, err error)
	// Apply counts events read after offset prev (the stored offset this
	// member read or last applied; -1 for none) up to last of partition p
	// and stores last, atomically; aggregate.ErrStale when the stored
	// offset is not prev.
	Apply(ctx context.Context, p int, prev, last int64, events []analytics.Decoded) (aggregate.Result, error)
}

// ConsumerConfig configures a Consumer. Get defaults from
// DefaultConsumerConfig.
type ConsumerConfig struct {
	Kafka     Config        // brokers, topic, TLS and SASL
	Group     string        // consumer group id
	BatchSize int           // most events per applied batch
	Linger    time.Duration // longest wait to fill a batch
	// StartLatest makes a partition with no stored offset start at its
	// end instead of its beginning.
	StartLatest    bool
	SessionTimeout time.Duration
	// HeartbeatInterval and RebalanceTimeout follow SessionTimeout when
	// zero (see timeouts).
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
}

// DefaultConsumerConfig returns the defaults.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{Kafka: DefaultConfig(), Group: "qredge-analytics", BatchSize: 5000, Linger: 100 * time.Millisecond,
		SessionTimeout: 10 * time.Second}
}

// timeouts returns the heartbeat interval and the rebalance timeout: those
// set, else derived from the session timeout. From 10s up they are 1s and
// 10s; a shorter session (a test's, or a small group that must notice a
// dead member fast) heartbeats five times per session and gives a
// rebalance two sessions.
func (cfg ConsumerConfig) timeouts() (heartbeat, rebalance time.Duration) {
	heartbeat, rebalance = time.Second, 10*time.Second
	if cfg.SessionTimeout < 10*time.Second {
		heartbeat, rebalance = cfg.SessionTimeout/5, 2*cfg.SessionTimeout
	}
	if cfg.HeartbeatInterval != 0 {
		heartbeat = cfg.HeartbeatInterval
	}
	if cfg.RebalanceTimeout != 0 {
		rebalance = cfg.RebalanceTimeout
	}
	return heartbeat, rebalance
}

// Check returns an error naming the first invalid setting.
func (cfg ConsumerConfig) Check() error {
	if !cfg.Kafka.Enabled() {
		return errors.New("--kafka is required (QREDGE_KAFKA), such as --kafka 127.0.0.1:9092")
	}
	if cfg.SessionTimeout < 500*time.Millisecond {
		return errors.New("--kafka-session-timeout must be at least 500ms")
	}
	if err := cfg.Kafka.Check(); err != nil {
		return err
	}
	if cfg.Group == "" {
		return errors.New("--kafka-group is empty")
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > 100000 {
		return errors.New("--batch-size must be between 1 and 100000")
	}
	if cfg.Linger <= 0 {
		return errors.New("--linger must be positive")
	}
	if hb, _ := cfg.timeouts(); hb <= 0 || cfg.SessionTimeout < 2*hb {
		return fmt.Errorf("--kafka-session-timeout must be at least twice the heartbeat interval (%s)", hb)
	}
	return nil
}

// Consumer is one member of the group.
type Consumer struct {
	cfg    ConsumerConfig
	ap     Applier
	m      *aggregate.Metrics
	brake  *aggregate.Brake
	log    *slog.Logger
	dialer *kafkago.Dialer

	poison atomic.Uint64
	mu     sync.Mutex
	member Membership
}

// Membership is what a member holds in the group now.
type Membership struct {
	// InGroup: the member is in a generation of the group. It is not
	// while it joins, between generations (a rebalance), or while the
	// group coordinator cannot be reached.
	InGroup bool
	// Generation is the last generation it was in, 0 before the first.
	Generation int32
	// Partitions are those it holds now: none outside a generation, and
	// none in a generation when the group has more members than the topic
	// has partitions (the member is idle, and takes some over when
	// another leaves).
	Partitions []int
	// JoinErr is the last failure to join the group, nil once it joined.
	JoinErr error
}

// NewConsumer checks cfg and that ap's aggregates come from cfg's topic,
// and returns a consumer; Run starts it.
func NewConsumer(ctx context.Context, cfg ConsumerConfig, ap Applier, m *aggregate.Metrics, brake *aggregate.Brake, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := ap.CheckTopic(ctx, cfg.Kafka.Topic); err != nil {
		return nil, err
	}
	d, err := cfg.Kafka.dialer()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{cfg: cfg, ap: ap, m: m, brake: brake, log: log, dialer: d}, nil
}

// Assigned returns the partitions this member holds now.
func (c *Consumer) Assigned() []int {
	return c.Membership().Partitions
}

// Membership returns what this member holds in the group now.
func (c *Consumer) Membership() Membership {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.member
	m.Partitions = append([]int(nil), m.Partitions...)
	return m
}

// Collectors returns the member's own metrics, to register beside the
// aggregate.Metrics it was given: the gauge
// qredge_analytics_partitions_assigned.
func (c *Consumer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qredge_analytics_partitions_assigned",
		Help: "Partitions of the topic this consumer group member holds now (0 between generations, and while idle in a group with more members than partitions).",
	}, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(len(c.member.Partitions))
	})}
}

// Run consumes until ctx is done, then leaves the group. It returns an
// error only when it cannot start.
func (c *Consumer) Run(ctx context.Context) error {
	topic := c.cfg.Kafka.Topic
	errLog := kafkago.LoggerFunc(func(msg string, args ...any) {
		c.log.Debug("kafka-go: "+msg, "args", args)
	})
	heartbeat, rebalance := c.cfg.timeouts()
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: c.cfg.Group, Brokers: c.cfg.Kafka.Brokers, Dialer: c.dialer, Topics: []string{topic},
		SessionTimeout: c.cfg.SessionTimeout, HeartbeatInterval: heartbeat,
		RebalanceTimeout: rebalance, JoinGroupBackoff: 500 * time.Millisecond,
		WatchPartitionChanges: true, PartitionWatchInterval: 10 * time.Second,
		StartOffset: kafkago.FirstOffset, ErrorLogger: errLog,
	})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { group.Close() })
	defer stop()
	defer group.Close()
	defer func() {
		c.mu.Lock()
		c.member.InGroup, c.member.Partitions = false, nil
		c.mu.Unlock()
	}()
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return nil
			}
			c.mu.Lock()
			c.member.JoinErr = err
			c.mu.Unlock()
			c.log.Warn("cannot join the consumer group; retrying", "group", c.cfg.Group, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		var parts []int
		for _, pa := range gen.Assignments[topic] {
			parts = append(parts, pa.ID)
		}
		c.mu.Lock()
		c.member = Membership{InGroup: true, Generation: gen.ID, Partitions: parts}
		c.mu.Unlock()
		c.log.Info("partitions assigned", "generation", gen.ID, "partitions", parts)
		for _, p := range parts {
			gen.Start(func(gctx context.Context) { c.partition(gctx, gen, p) })
		}
		// The generation's end (a rebalance, a lost coordinator) takes
		// its partitions away.
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			c.mu.Lock()
			if c.member.Generation == gen.ID {
				c.member.InGroup, c.member.Partitions = false, nil
			}
			c.mu.Unlock()
		})
	}
}

// partition consumes one assigned partition until the generation ends.
func (c *Consumer) partition(ctx context.Context, gen *kafkago.Generation, p int) {
	label := strconv.Itoa(p)
	lag := c.m.Lag.WithLabelValues(label)
	defer c.m.Lag.DeleteLabelValues(label) // the next owner reports it
	readerLog := kafkago.LoggerFunc(func(msg string, args ...any) {
		c.log.Warn("kafka reader: "+fmt.Sprintf(msg, args...), "partition", p)
	})
	for ctx.Err() == nil {
		// Readers find aggregates through the partition list: record p
		// before anything of it is applied (again after a stale batch:
		// Redis may have lost the list with the offset).
		if err := c.ap.AddPartitions(ctx, []int{p}); err != nil {
			c.log.Warn("cannot record the partition; retrying", "partition", p, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		last, ok, err := c.ap.Offset(ctx, p)
		if err != nil {
			c.log.Warn("cannot read the stored offset; retrying", "partition", p, "err", err)
			sleep(ctx, time.Second)
			continue
		}
		start := last + 1
		if !ok {
			start = kafkago.FirstOffset
			if c.cfg.StartLatest {
				start = kafkago.LastOffset
			}
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: c.cfg.Kafka.Brokers, Dialer: c.dialer, Topic: c.cfg.Kafka.Topic, Partition: p,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 1000,
			ErrorLogger: readerLog,
		})
		if err := r.SetOffset(start); err != nil {
			r.Close()
			c.log.Error("BUG: cannot seek", "partition", p, "offset", start, "err", err)
			return
		}
		if !ok {
			last = -1
		}
		c.consume(ctx, gen, p, r, lag, last, ok)
		// Closed in the background: kafka-go's Reader.Close can block for
		// a long time after a fetch was cancelled (segmentio/kafka-go#428,
		// #1248), and nothing here needs to wait for it.
		go r.Close()
	}
}

// consume applies batches from r until ctx is done or a batch is stale.
// prev is the stored offset r continues from (-1 for none; then known is
// false and the first batch may start anywhere).
func (c *Consumer) consume(ctx context.Context, gen *kafkago.Generation, p int, r *kafkago.Reader, lag interface{ Set(float64) }, prev int64, known bool) {
	msgs := make([]kafkago.Message, 0, c.cfg.BatchSize)
	events := make([]analytics.Decoded, 0, c.cfg.BatchSize)
	times := make([]int64, 0, c.cfg.BatchSize)
	var committed time.Time
	listed := time.Now() // partition() recorded it just before
	// relist records p again, at most every idleCheck: a Redis that lost
	// writes lost the partition list too, and readers would not see p.
	relist := func() {
		if time.Since(listed) < idleCheck {
			return
		}
		listed = time.Now()
		if err := c.ap.AddPartitions(ctx, []int{p}); err != nil {
			c.log.Debug("cannot record the partition", "partition", p, "err", err)
		}
	}
	for {
		if !c.waitBrake(ctx, r, lag) {
			return
		}
		var err error
		if msgs, err = c.fetch(ctx, r, msgs[:0]); err != nil {
			if errors.Is(err, errIdle) {
				// Nothing new: check that Redis still holds our offset
				// and the partition list (it may have lost writes), so an
				// idle partition counts again at once, not at its next
				// event, and stays visible to readers.
				relist()
				if stored, ok, err := c.ap.Offset(ctx, p); err == nil && (ok && stored != prev || !ok && known) {
					c.log.Warn("the stored offset changed while idle (Redis lost writes?); re-reading it", "partition", p, "had", prev, "stored", stored)
					return
				}
				continue
			}
			if ctx.Err() == nil {
				c.log.Warn("cannot read from kafka; retrying", "partition", p, "err", err)
				sleep(ctx, time.Second)
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		// A brake engaged while this batch was being fetched holds it:
		// nothing more is applied until the brake is released (the
		// messages wait in memory; their offsets are not stored, so if
		// the partition moves meanwhile, the next owner reads them again).
		if !c.beginBatch(ctx, r, lag) {
			return
		}
		events, times = events[:0], times[:0]
		for i := range msgs {
			e, err := analytics.Decode(msgs[i].Value)
			if err != nil {
				c.m.Poison.Inc()
				if n := c.poison.Add(1); n <= 10 || n%1000 == 0 {
					c.log.Warn("poison event skipped", "partition", p, "offset", msgs[i].Offset, "err", err, "poison_total", n)
				}
				continue
			}
			events = append(events, e)
			times = append(times, e.Time)
		}
		first, last := msgs[0].Offset, msgs[len(msgs)-1].Offset
		if known && first > prev+1 {
			// Kafka no longer has what follows the stored offset: the
			// retention deleted events that were never counted (a brake or
			// an outage longer than the topic's retention).
			c.m.Skipped.Add(float64(first - prev - 1))
			c.log.Error("events lost before they were counted: the partition's log starts after the stored offset", "partition", p,
				"stored", prev, "first_available", first, "lost", first-prev-1)
		}
		began := time.Now()
		res, ok := c.apply(ctx, p, prev, first, last, events)
		c.brake.End()
		if !ok {
			return
		}
		prev, known = last, true
		relist()
		c.m.Apply.Observe(time.Since(began).Seconds())
		c.m.Batches.Inc()
		c.m.Applied.Add(float64(res.Applied))
		c.m.Duplicate.Add(float64(res.Duplicates))
		c.m.ObserveFreshness(times)
		lag.Set(float64(max(msgs[len(msgs)-1].HighWaterMark-last-1, 0)))
		// Informational only, at most once a second: Kafka tools show the
		// group's progress.
		if time.Since(committed) >= time.Second {
			committed = time.Now()
			if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Kafka.Topic: {p: last + 1}}); err != nil {
				c.log.Debug("cannot commit the informational offset", "partition", p, "err", err)
			}
		}
	}
}

// apply applies a batch, retrying until it is applied (ok), found stale,
// or ctx is done.
func (c *Consumer) apply(ctx context.Context, p int, prev, first, last int64, events []analytics.Decoded) (res aggregate.Result, ok bool) {
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		res, err := c.ap.Apply(ctx, p, prev, last, events)
		if err == nil {
			return res, true
		}
		if errors.Is(err, aggregate.ErrStale) {
			c.log.Info("the stored offset moved (another member, or Redis lost writes); re-reading it", "partition", p, "err", err)
			return res, false
		}
		if ctx.Err() != nil {
			return res, false
		}
		c.log.Warn("cannot apply a batch; retrying it", "partition", p, "first", first, "last", last, "err", err)
		sleep(ctx, backoff)
	}
}

// idleCheck is how long a partition waits for an event before checking
// its stored offset.
const idleCheck = 5 * time.Second

var errIdle = errors.New("no event for a while")

// fetch reads one message, waiting up to idleCheck (then errIdle), then
// more until the batch is full or the linger has passed.
func (c *Consumer) fetch(ctx context.Context, r *kafkago.Reader, msgs []kafkago.Message) ([]kafkago.Message, error) {
	ictx, icancel := context.WithTimeout(ctx, idleCheck)
	m, err := r.FetchMessage(ictx)
	icancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return msgs, errIdle
		}
		return msgs, err
	}
	msgs = append(msgs, m)
	lctx, cancel := context.WithTimeout(ctx, c.cfg.Linger)
	defer cancel()
	for len(msgs) < c.cfg.BatchSize {
		m, err := r.FetchMessage(lctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// waitBrake waits while the brake is engaged, keeping the lag metric
// current; it returns false when ctx is done.
func (c *Consumer) waitBrake(ctx context.Context, r *kafkago.Reader, lag interface{ Set(float64) }) bool {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for c.brake.Paused() {
		select {
		case <-c.brake.Released():
		case <-ctx.Done():
			return false
		case <-t.C:
			if n, err := r.ReadLag(ctx); err == nil {
				lag.Set(float64(n))
			}
		}
	}
	return ctx.Err() == nil
}

// beginBatch waits until the brake lets a batch begin (then the caller
// ends it with Brake.End); it returns false when ctx is done.
func (c *Consumer) beginBatch(ctx context.Context, r *kafkago.Reader, lag interface{ Set(float64) }) bool {
	for !c.brake.Begin() {
		if !c.waitBrake(ctx, r, lag) {
			return false
		}
	}
	if ctx.Err() != nil {
		c.brake.End()
		return false
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
