package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/ticker"
	"github.com/qredge/qredge/store"
)

// TagsFunc returns the tags of the link (domain, code) that answered a
// scan, nil when it has none or is unknown. Scan events carry no tags, so
// webhooks filtered by tag need it; it is called at most once per link per
// routed chunk, and should answer from memory (an edge's table, a cache).
type TagsFunc func(domain, code string) []string

// Router turns events into outbox batches for the webhooks that want
// them. It holds the list of enabled webhooks, read from the store by
// Reload, which the Applier calls before it routes when the list is
// Config.Refresh old (Run calls it every Config.Refresh, for other
// callers): a webhook created, changed or deleted is routed by what the
// next read finds.
//
// Batching: a call makes, per webhook, batches of up to Config.MaxEvents
// events in the order it was given them. The caller decides how long
// events wait to fill a call (the Kafka consumer's --linger and
// --batch-size), so that is the longest a scan waits to be queued.
type Router struct {
	cfg   Config
	hooks store.WebhookStore
	tags  TagsFunc
	log   *slog.Logger
	list  atomic.Pointer[[]*store.Webhook] // enabled webhooks; nil before the first read
	read  atomic.Int64                     // when list was read, Unix nanoseconds
}

// NewRouter returns a router over the webhooks of hooks. tags may be nil:
// then webhooks filtered by tag receive no scans (they still receive the
// link events of links with their tags).
func NewRouter(cfg Config, hooks store.WebhookStore, tags TagsFunc, log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{cfg: cfg, hooks: hooks, tags: tags, log: log}
}

// Reload reads the webhook list now.
func (r *Router) Reload(ctx context.Context) error {
	all, err := r.hooks.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the webhooks: %w", err)
	}
	enabled := make([]*store.Webhook, 0, len(all))
	for _, w := range all {
		if !w.Disabled {
			enabled = append(enabled, w)
		}
	}
	r.list.Store(&enabled)
	r.read.Store(time.Now().UnixNano())
	return nil
}

// Run reads the webhook list every Config.Refresh until ctx is done.
func (r *Router) Run(ctx context.Context) {
	ticker.Every(ctx, r.cfg.Refresh, func() {
		if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("cannot refresh the webhook list; routing to the last one read", "err", err)
		}
	})
}

// ensure reads the list if it never was, or was last read Config.Refresh
// ago or more: events are never routed to an empty list only because it
// was not read yet, and the Applier needs no Run beside it. When the
// store cannot be read, a list read before is used.
func (r *Router) ensure(ctx context.Context) error {
	if r.list.Load() != nil && time.Since(time.Unix(0, r.read.Load())) < r.cfg.Refresh {
		return nil
	}
	err := r.Reload(ctx)
	if err != nil && r.list.Load() != nil {
		r.log.Warn("cannot refresh the webhook list; routing to the last one read", "err", err)
		return nil
	}
	return err
}

// Webhooks returns the enabled webhooks the router routes to.
func (r *Router) Webhooks() []*store.Webhook {
	if l := r.list.Load(); l != nil {
		return *l
	}
	return nil
}

// Sampled reports whether a webhook with sample rate rate receives the
// scan with event id id: every process decides alike.
func Sampled(id [16]byte, rate float64) bool {
	if rate <= 0 || rate >= 1 {
		return true
	}
	return float64(xxhash.Sum64(id[:])>>11)/(1<<53) < rate
}

// anyIn reports whether the sorted sets a and b share an element.
func anyIn(a, b []string) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

func hasCode(codes []string, code string) bool {
	i := sort.SearchStrings(codes, code)
	return i < len(codes) && codes[i] == code
}

// batcher cuts one webhook's events into batches.
type batcher struct {
	cfg *Config
	key string
	w   *store.Webhook
	typ string
	n   int
	sel []json.RawMessage
	now time.Time
	out []store.OutboxBatch
}

func (b *batcher) add(typ string, ev json.RawMessage) {
	if typ != b.typ || len(b.sel) == b.cfg.MaxEvents {
		b.flush()
		b.typ = typ
	}
	b.sel = append(b.sel, ev)
}

func (b *batcher) flush() {
	if len(b.sel) == 0 {
		return
	}
	id := deliveryID(b.key, b.w.ID, b.n)
	b.n++
	b.out = append(b.out, store.OutboxBatch{ID: id, WebhookID: b.w.ID, Type: b.typ, Body: body(id, b.w.ID, b.typ, b.sel),
		Events: len(b.sel), FirstAt: b.now})
	b.sel = b.sel[:0]
}

// Scans returns the batches of events for each webhook that wants them:
// subscribed to scans, of one of its codes and tags (when it names any),
// and sampled in. key names the events' position in their source (such
// as the topic, partition and last offset); batch ids derive from it.
func (r *Router) Scans(key string, events []analytics.Decoded) []store.OutboxBatch {
	raw := make([]json.RawMessage, len(events))
	enc := func(i int) json.RawMessage {
		if raw[i] == nil {
			e := NewScanEvent(&events[i])
			b, err := json.Marshal(&e)
			if err != nil {
				panic(fmt.Sprintf("BUG: cannot encode a scan event: %v", err))
			}
			raw[i] = b
		}
		return raw[i]
	}
	var tags map[string][]string
	tagsOf := func(e *analytics.Decoded) []string {
		if r.tags == nil {
			return nil
		}
		k := store.LinkKey(e.Domain, e.Code)
		t, ok := tags[k]
		if !ok {
			if tags == nil {
				tags = map[string][]string{}
			}
			t = sortedCopy(r.tags(e.Domain, e.Code))
			tags[k] = t
		}
		return t
	}
	b := batcher{cfg: &r.cfg, key: key, now: r.cfg.now()}
	for _, w := range r.Webhooks() {
		if !w.Wants(store.EventScan) {
			continue
		}
		b.w, b.n, b.typ = w, 0, ""
		for i := range events {
			e := &events[i]
			if len(w.Codes) > 0 && !hasCode(w.Codes, e.Code) || !Sampled(e.ID, w.SampleRate) ||
				len(w.Tags) > 0 && !anyIn(w.Tags, tagsOf(e)) {
				continue
			}
			b.add(store.EventScan, enc(i))
		}
		b.flush()
	}
	return b.out
}

// Changes returns the batches of link changes for each webhook that
// wants them: subscribed to the change's kind (ChangeType), of a link
// with one of its tags (when it names any). A webhook's batches follow
// the changes' order, a new batch starting where the kind changes.
func (r *Router) Changes(key string, changes []store.Change) []store.OutboxBatch {
	now := r.cfg.now()
	raw := make([]json.RawMessage, len(changes))
	types := make([]string, len(changes))
	for i := range changes {
		types[i] = ChangeType(&changes[i])
	}
	b := batcher{cfg: &r.cfg, key: key, now: now}
	for _, w := range r.Webhooks() {
		b.w, b.n, b.typ = w, 0, ""
		for i := range changes {
			c := &changes[i]
			if !w.Wants(types[i]) || len(w.Tags) > 0 && !anyIn(w.Tags, sortedCopy(c.Link.Tags)) {
				continue
			}
			if raw[i] == nil {
				e := NewLinkEvent(c, now)
				data, err := json.Marshal(&e)
				if err != nil {
					panic(fmt.Sprintf("BUG: cannot encode a link event: %v", err))
				}
				raw[i] = data
			}
			b.add(types[i], raw[i])
		}
		b.flush()
	}
	return b.out
}

// sortedCopy returns xs sorted, copied when it was not.
func sortedCopy(xs []string) []string {
	if sort.StringsAreSorted(xs) {
		return xs
	}
	c := append([]string(nil), xs...)
	sort.Strings(c)
	return c
}
