package webhook

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/redirect/front"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/redisstore"
)

// ServiceConfig is the configuration of 'qredge webhooks'.
type ServiceConfig struct {
	Redis       cli.RedisFlags
	Kafka       kafka.ConsumerConfig // --kafka*, --batch-size, --linger, --start-latest
	Webhook     Config               // --webhook-*
	cli.Process                      // --admin-listen, --shutdown-timeout, --log-*
}

// DefaultServiceConfig returns the defaults: the consumer group
// qredge-webhooks, its admin listener on :9096.
func DefaultServiceConfig() ServiceConfig {
	k := kafka.DefaultConsumerConfig()
	k.Group = "qredge-webhooks"
	return ServiceConfig{Redis: cli.DefaultRedisFlags(), Kafka: k, Webhook: DefaultConfig(), Process: cli.DefaultProcess("", ":9096")}
}

// RegisterFlags adds the command's flags, bound to c.
func (c *ServiceConfig) RegisterFlags(fs *flag.FlagSet) {
	cli.Register(fs, c.Redis.Register, c.Kafka.RegisterFlags, c.Webhook.RegisterFlags, c.Process.Register)
}

// Check returns an error naming the first invalid setting.
func (c *ServiceConfig) Check() error {
	return cli.Check(c.Redis.Check, c.Kafka.Check, c.Webhook.Check, c.Process.Check)
}

// Service is 'qredge webhooks': one member of the consumer group that
// queues scan events for webhooks, one follower of the link change
// stream, and one deliverer. Run as many as needed: they share the
// topic's partitions, queue each change once (the stored offsets decide)
// and deliver each webhook from one process at a time (leases).
type Service struct {
	Config    ServiceConfig
	Log       *slog.Logger
	BuildInfo prometheus.Collector // the qredge_build_info gauge, when set

	rs      *redisstore.Store
	run     *kafka.Runner
	admin   *front.Admin
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers cli.Closers
}

// AdminAddr is the admin listener's address.
func (s *Service) AdminAddr() string { return s.admin.Addr() }

// Open connects to Redis (it must answer at start), joins the group and
// starts delivering.
func (s *Service) Open(ctx context.Context) (err error) {
	cfg := s.Config
	s.Log = cli.OrDiscard(s.Log)
	if s.rs, err = redisstore.Open(ctx, cfg.Redis.Config()); err != nil {
		return err
	}
	s.closers.Add(s.rs.Close)
	defer s.closers.CloseOnError(&err)
	m, am := NewMetrics(cfg.Webhook.MetricWebhooks), aggregate.NewMetrics()
	r := NewRouter(cfg.Webhook, s.rs, CachedTags(s.rs.GetLink), s.Log)
	a := NewApplier(cfg.Webhook, r, s.rs, m, s.Log)
	d, err := NewDeliverer(cfg.Webhook, s.rs, s.rs, m, s.Log)
	if err != nil {
		return err
	}
	a.Notify = d.Notify
	consumer, err := kafka.NewConsumer(ctx, cfg.Kafka, NewKafkaApplier(a), am, aggregate.NewBrake(am.Paused), s.Log)
	if err != nil {
		return err
	}
	reg := front.NewRegistry(append(m.Collectors(), am.Collectors()...)...)
	if s.BuildInfo != nil {
		reg.MustRegister(s.BuildInfo)
	}
	if s.admin, err = front.StartAdmin(cfg.AdminListen, s.readiness, reg, s.Log); err != nil {
		return err
	}
	s.closers.Add(s.admin.Close)
	s.run = consumer.Start()
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() { defer s.wg.Done(); d.Run(rctx) }()
	go func() { defer s.wg.Done(); FollowChanges(rctx, s.rs, a, s.Log) }()
	s.Log.Info("delivering webhooks", "kafka", strings.Join(cfg.Kafka.Kafka.Brokers, ","), "topic", cfg.Kafka.Kafka.Topic,
		"group", cfg.Kafka.Group, "redis", cfg.Redis.Addr, "redis_mode", s.rs.Mode(), "deliverer", d.Owner())
	return nil
}

// readiness: not ready while Redis is unreachable or the consumer has
// stopped; else the group membership's.
func (s *Service) readiness() (bool, string) {
	return s.run.Readiness(s.rs.Ping, "redis unreachable: queueing and deliveries wait and are retried", false)
}

// Close leaves the group, stops the deliveries (one in flight is sent
// again later) and the change follower, and closes Redis.
func (s *Service) Close() error {
	if s.run != nil && !s.run.Stop(s.Config.ShutdownTimeout) {
		s.Log.Warn("consumer did not stop in time")
	}
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	s.closers.Close()
	s.Log.Info("stopped")
	return nil
}

// streamPosition is a change stream entry's ID ("ms-seq") as one
// increasing number: the milliseconds above 20 bits of sequence.
func streamPosition(id string) (int64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	m, err1 := strconv.ParseUint(ms, 10, 43)
	q, err2 := strconv.ParseUint(seq, 10, 20)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("change stream id %q out of range", id)
	}
	return int64(m<<20 | q), nil
}

func streamID(pos int64) string {
	return strconv.FormatInt(pos>>20, 10) + "-" + strconv.FormatInt(pos&(1<<20-1), 10)
}

// FollowChanges queues the link changes of rs's change stream for
// webhooks until ctx is done, at least once: it reads on from the stored
// position after a restart (from the stream's end the first time), and
// several processes queue each change once (the one whose write finds
// the position it read from). Changes trimmed from the stream before
// they were read are lost to webhooks, and logged.
func FollowChanges(ctx context.Context, rs *redisstore.Store, a *Applier, log *slog.Logger) {
	after, skipped := "", "" // skipped: the last ID of changes skipped, read on after it
	for ctx.Err() == nil {
		stored, ok, err := a.Offset(ctx, LinksSource, 0)
		switch {
		case err != nil:
			log.Warn("cannot read the webhooks' change stream position: retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		case ok:
			after = streamID(stored)
			if skipped != "" && redisstore.CompareIDs(skipped, after) > 0 {
				after = skipped
			}
		case after == "":
			if after, err = rs.TailID(ctx); err != nil {
				sleep(ctx, time.Second)
				after = ""
				continue
			}
		}
		entries, gap, _, err := rs.ReadChangesChecked(ctx, after, time.Second, 500)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cannot read the change stream: retrying", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if gap {
			log.Error("link changes were trimmed from the change stream before webhooks read them: their link events are lost", "after", after)
		}
		if len(entries) == 0 {
			continue
		}
		last, err := streamPosition(entries[len(entries)-1].ID)
		if err != nil {
			// Not a stream ID Redis makes: skip these changes rather
			// than stop following.
			log.Error("link changes skipped for webhooks", "changes", len(entries), "err", err)
			after, skipped = entries[len(entries)-1].ID, entries[len(entries)-1].ID
			continue
		}
		changes := make([]store.Change, 0, len(entries))
		for _, e := range entries {
			if e.Bad == nil {
				changes = append(changes, e.Change)
			}
		}
		prev := int64(-1)
		if ok {
			prev = stored
		}
		err = a.ApplyChanges(ctx, LinksSource, 0, prev, last, changes)
		switch {
		case errors.Is(err, store.ErrStale):
			// Another process queued them: read on from its position.
		case err != nil:
			log.Warn("cannot queue link changes for webhooks: retrying", "changes", len(changes), "err", err)
			sleep(ctx, time.Second)
		default:
			after = entries[len(entries)-1].ID
		}
	}
}

// CachedTags returns a TagsFunc that reads links with get and keeps their
// tags for a minute (up to 100,000 links, then it starts afresh): for a
// process without a link table.
func CachedTags(get func(ctx context.Context, domain, code string) (*store.Link, error)) TagsFunc {
	type entry struct {
		tags []string
		at   time.Time
	}
	var mu sync.Mutex
	cache := map[string]entry{}
	return func(domain, code string) []string {
		k := store.LinkKey(domain, code)
		mu.Lock()
		e, ok := cache[k]
		mu.Unlock()
		if ok && time.Since(e.at) < time.Minute {
			return e.tags
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l, err := get(ctx, domain, code)
		if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			return e.tags // unknown for now: what was known, if anything
		}
		var tags []string
		if l != nil {
			tags = l.Tags
		}
		mu.Lock()
		if len(cache) >= 100000 {
			cache = map[string]entry{}
		}
		cache[k] = entry{tags, time.Now()}
		mu.Unlock()
		return tags
	}
}
