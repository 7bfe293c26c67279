package webhook

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

// The sources of the embedded mode's offsets.
const (
	// LogSource is the process's event log: positions are the local
	// aggregator's (spool segment << 32 | offset), increasing.
	LogSource = "log"
	// LinksSource is a store's change feed: positions are link versions.
	LinksSource = "links"
)

// maxPendingChanges bounds the link changes waiting to be queued in the
// embedded mode; beyond it they are dropped, logged and counted.
const maxPendingChanges = 10000

// Embedded runs webhooks inside one process (qredge serve). Scans come
// from the process's event log through Tap, which the local aggregator
// calls with each chunk before it counts it: a chunk is queued before the
// aggregator's position passes it, so a crash never skips one (a chunk
// queued and then read again after a crash is recognised by its position
// and skipped). Link changes come from the store's change feed, queued in
// order by a goroutine (a crash loses those not queued yet). One
// Deliverer sends everything.
type Embedded struct {
	a   *Applier
	r   *Router
	d   *Deliverer
	m   *Metrics
	log *slog.Logger

	changes chan store.Change
	dropped prometheus.Counter
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// StartEmbedded starts the deliverer and the queueing of feed's changes.
// hooks and ds are usually the same store; tags gives a scanned link's
// tags (nil: tag-filtered webhooks get no scans).
func StartEmbedded(cfg Config, hooks store.WebhookStore, ds store.DeliveryStore, feed store.ChangeFeed, tags TagsFunc, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.Default()
	}
	m := NewMetrics(cfg.MetricWebhooks)
	d, err := NewDeliverer(cfg, hooks, ds, m, log)
	if err != nil {
		return nil, err
	}
	r := NewRouter(cfg, hooks, tags, log)
	e := &Embedded{a: NewApplier(cfg, r, ds, m, log), r: r, d: d, m: m, log: log,
		changes: make(chan store.Change, maxPendingChanges),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "qredge_webhook_link_events_dropped_total",
			Help: "Link changes not queued for webhooks because too many were waiting (the embedded mode)."})}
	e.a.Notify = d.Notify
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(2)
	go func() { defer e.wg.Done(); d.Run(ctx) }()
	go func() { defer e.wg.Done(); e.queueChanges(ctx) }()
	feed.Subscribe(e.onChange)
	return e, nil
}

// Collectors returns the webhook metrics, to register.
func (e *Embedded) Collectors() []prometheus.Collector {
	return append(e.m.Collectors(), e.dropped)
}

// Reload makes the router and the deliverer read the webhook list now:
// the API calls it after every webhook write.
func (e *Embedded) Reload() {
	if err := e.r.Reload(context.Background()); err != nil {
		e.log.Warn("cannot reload the webhooks", "err", err)
	}
	e.d.Reload()
}

// Close stops the deliverer (a delivery in flight is abandoned and sent
// again later) and the queueing of changes.
func (e *Embedded) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// wants reports whether an enabled webhook wants any of the event kinds.
func (e *Embedded) wants(ctx context.Context, kinds ...string) (bool, error) {
	if err := e.r.ensure(ctx); err != nil {
		return false, err
	}
	for _, w := range e.r.Webhooks() {
		for _, k := range kinds {
			if w.Wants(k) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Tap queues the scans of the event log read up to position last (the
// first argument, where the chunk starts, is not needed: the stored
// position is). With no webhook for scans it does nothing (no write): a
// webhook created later gets the scans from then on. A chunk at or before
// the stored position was queued before and is skipped; one that overlaps
// it is queued whole (at least once).
func (e *Embedded) Tap(_, last int64, events []analytics.Decoded) error {
	ctx := context.Background()
	if ok, err := e.wants(ctx, store.EventScan); !ok {
		return err
	}
	stored, ok, err := e.a.Offset(ctx, LogSource, 0)
	switch {
	case err != nil:
		return err
	case !ok:
		stored = -1
	case stored >= last:
		return nil
	}
	return e.a.ApplyScans(ctx, LogSource, 0, stored, last, events)
}

func (e *Embedded) onChange(c store.Change) {
	select {
	case e.changes <- c:
	default:
		e.dropped.Inc()
		e.log.Error("too many link changes waiting for webhooks: one dropped", "code", c.Link.Code, "version", c.Version)
	}
}

// queueChanges queues link changes in feed order, up to 100 at a time.
func (e *Embedded) queueChanges(ctx context.Context) {
	batch := make([]store.Change, 0, 100)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-e.changes:
			batch = append(batch[:0], c)
		}
		for len(batch) < cap(batch) {
			select {
			case c := <-e.changes:
				batch = append(batch, c)
				continue
			default:
			}
			break
		}
		for ctx.Err() == nil {
			err := e.applyChanges(ctx, batch)
			if err == nil {
				break
			}
			e.log.Warn("cannot queue link changes for webhooks: retrying", "changes", len(batch), "err", err)
			sleep(ctx, e.a.cfg.BackoffBase)
		}
	}
}

func (e *Embedded) applyChanges(ctx context.Context, batch []store.Change) error {
	ok, err := e.wants(ctx, store.EventLinkCreated, store.EventLinkUpdated, store.EventLinkDeleted)
	if !ok {
		return err
	}
	stored, known, err := e.a.Offset(ctx, LinksSource, 0)
	if err != nil {
		return err
	}
	prev := int64(-1)
	if known {
		prev = stored
	}
	var fresh []store.Change
	last := prev
	for _, c := range batch {
		if v := int64(c.Version); v > last {
			fresh, last = append(fresh, c), v
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return e.a.ApplyChanges(ctx, LinksSource, 0, prev, last, fresh)
}
