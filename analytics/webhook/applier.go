package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

// Applier queues what the Router makes in the DeliveryStore, together
// with the position of the events in their source, atomically: after a
// crash at any instant the outboxes and the stored offset agree, and the
// source is read again from the offset. Nothing acknowledged by the store
// is lost, and nothing is queued twice for one source position.
type Applier struct {
	cfg Config
	r   *Router
	ds  store.DeliveryStore
	m   *Metrics
	log *slog.Logger
	// Notify, when set, is called with each webhook that got batches: a
	// Deliverer in the same process (Deliverer.Notify) then sends them at
	// once instead of at its next poll.
	Notify func(webhookID string)
}

// NewApplier returns an applier that routes with r into ds.
func NewApplier(cfg Config, r *Router, ds store.DeliveryStore, m *Metrics, log *slog.Logger) *Applier {
	if log == nil {
		log = slog.Default()
	}
	return &Applier{cfg: cfg, r: r, ds: ds, m: m, log: log}
}

// Offset returns the stored offset of (source, part).
func (a *Applier) Offset(ctx context.Context, source string, part int) (int64, bool, error) {
	return a.ds.Offset(ctx, source, part)
}

// ApplyScans queues the scans read after offset prev (-1 for none) up to
// last of (source, part), and stores last; store.ErrStale when the stored
// offset is not prev.
func (a *Applier) ApplyScans(ctx context.Context, source string, part int, prev, last int64, events []analytics.Decoded) error {
	if err := a.r.ensure(ctx); err != nil {
		return err
	}
	return a.enqueue(ctx, source, part, prev, last, a.r.Scans(positionKey(source, part, last), events))
}

// ApplyChanges is ApplyScans for link changes. A store's change feed is
// ordered by version, so the change's Version is a fitting offset (part
// 0).
func (a *Applier) ApplyChanges(ctx context.Context, source string, part int, prev, last int64, changes []store.Change) error {
	if err := a.r.ensure(ctx); err != nil {
		return err
	}
	return a.enqueue(ctx, source, part, prev, last, a.r.Changes(positionKey(source, part, last), changes))
}

func positionKey(source string, part int, last int64) string {
	return source + "/" + strconv.Itoa(part) + "/" + strconv.FormatInt(last, 10)
}

func (a *Applier) enqueue(ctx context.Context, source string, part int, prev, last int64, batches []store.OutboxBatch) error {
	res, err := a.ds.Enqueue(ctx, source, part, prev, last, batches, a.cfg.Limits())
	if err != nil {
		return err
	}
	events := 0
	for i := range batches {
		events += batches[i].Events
	}
	a.m.Enqueued.Add(float64(len(batches) - res.Overflow))
	a.m.Events.Add(float64(events))
	if res.Overflow > 0 {
		a.m.DeadLetter(store.DeadBacklogFull, res.Overflow)
		a.m.DeadDropped.Add(float64(res.DeadDropped))
		a.log.Warn("webhook outboxes are full: deliveries went to the dead letters", "batches", res.Overflow,
			"dead_letters_dropped", res.DeadDropped, "outbox_cap", a.cfg.OutboxCap)
	}
	if a.Notify != nil {
		seen := map[string]bool{}
		for i := range batches {
			if id := batches[i].WebhookID; !seen[id] {
				seen[id] = true
				a.Notify(id)
			}
		}
	}
	return nil
}

// KafkaSource is the source name of the offsets of a Kafka topic.
func KafkaSource(topic string) string { return "kafka:" + topic }

// KafkaApplier is the Applier of analytics/kafka's Consumer: a consumer
// group (such as "qredge-webhooks") whose members queue the scans of
// their partitions for webhooks, storing each partition's offset with
// the outboxes. Delivery is at least once: a batch is queued once per
// source position, and delivered until a receiver accepts it.
type KafkaApplier struct {
	a      *Applier
	mu     sync.Mutex
	source string
}

// NewKafkaApplier returns the consumer's Applier on top of a.
func NewKafkaApplier(a *Applier) *KafkaApplier { return &KafkaApplier{a: a} }

// CheckTopic takes the topic the consumer reads: offsets are stored
// under KafkaSource(topic), so another topic starts from its own.
func (k *KafkaApplier) CheckTopic(_ context.Context, topic string) error {
	if topic == "" {
		return errors.New("no Kafka topic")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.source = KafkaSource(topic)
	return nil
}

func (k *KafkaApplier) src() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.source == "" {
		return "", errors.New("BUG: KafkaApplier used before CheckTopic")
	}
	return k.source, nil
}

// AddPartitions records nothing: no reader needs the partition list.
func (k *KafkaApplier) AddPartitions(context.Context, []int) error { return nil }

// Offset returns the last offset of partition p queued for webhooks.
func (k *KafkaApplier) Offset(ctx context.Context, p int) (int64, bool, error) {
	src, err := k.src()
	if err != nil {
		return 0, false, err
	}
	return k.a.Offset(ctx, src, p)
}

// Apply queues events read after prev up to last of partition p and
// stores last, atomically; aggregate.ErrStale when the stored offset is
// not prev. The result counts every event as applied: each was routed to
// every webhook that wants it (possibly none). Duplicates are not
// detected: receivers deduplicate by event id.
func (k *KafkaApplier) Apply(ctx context.Context, p int, prev, last int64, events []analytics.Decoded) (aggregate.Result, error) {
	src, err := k.src()
	if err != nil {
		return aggregate.Result{}, err
	}
	if err := k.a.ApplyScans(ctx, src, p, prev, last, events); err != nil {
		if errors.Is(err, store.ErrStale) {
			return aggregate.Result{}, fmt.Errorf("%w (%w)", aggregate.ErrStale, err)
		}
		return aggregate.Result{}, err
	}
	return aggregate.Result{Applied: len(events)}, nil
}
