package webhook

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/store"
)

// peekBatches is how many batches a worker reads from its outbox at once.
const peekBatches = 16

// Deliverer sends the outboxes of the enabled webhooks: one goroutine per
// webhook, which delivers only while this process holds the webhook's
// lease, so that across processes one sends a webhook's batches, one at a
// time, in outbox order. A slow or dead receiver holds back only its own
// webhook.
type Deliverer struct {
	cfg    Config
	hooks  store.WebhookStore
	ds     store.DeliveryStore
	m      *Metrics
	log    *slog.Logger
	owner  string
	client *http.Client
	reload chan struct{}

	mu      sync.Mutex
	workers map[string]*worker
}

type worker struct {
	hook   atomic.Pointer[store.Webhook]
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDeliverer checks cfg and returns a deliverer; Run starts it.
func NewDeliverer(cfg Config, hooks store.WebhookStore, ds store.DeliveryStore, m *Metrics, log *slog.Logger) (*Deliverer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	host, _ := os.Hostname()
	var id [6]byte
	crand.Read(id[:])
	return &Deliverer{cfg: cfg, hooks: hooks, ds: ds, m: m, log: log, owner: host + "/" + hex.EncodeToString(id[:]),
		client: newClient(&cfg), reload: make(chan struct{}, 1), workers: map[string]*worker{}}, nil
}

// Owner is the name this deliverer holds leases under.
func (d *Deliverer) Owner() string { return d.owner }

// Collectors returns the metrics the deliverer was given, to register.
func (d *Deliverer) Collectors() []prometheus.Collector { return d.m.Collectors() }

// Reload makes Run read the webhook list now (after a webhook was
// created, changed or deleted), without waiting.
func (d *Deliverer) Reload() {
	select {
	case d.reload <- struct{}{}:
	default:
	}
}

// Notify wakes the worker of a webhook whose outbox got batches, if this
// process runs one, without waiting.
func (d *Deliverer) Notify(webhookID string) {
	d.mu.Lock()
	w := d.workers[webhookID]
	d.mu.Unlock()
	if w != nil {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Run delivers until ctx is done, then stops every worker (a delivery
// in flight is abandoned: its batch stays first in the outbox) and
// releases the leases. It reads the webhook list every Config.Refresh
// and on Reload; a failure to read it keeps the workers it has.
func (d *Deliverer) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Refresh)
	defer t.Stop()
	defer d.stopAll()
	for {
		if err := d.sync(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("cannot read the webhooks; delivering those known", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.reload:
		}
	}
}

// sync starts a worker for each enabled webhook without one, hands the
// others their webhook's current definition, and stops the workers of
// webhooks deleted or disabled.
func (d *Deliverer) sync(ctx context.Context) error {
	all, err := d.hooks.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	keep := map[string]bool{}
	for _, h := range all {
		if h.Disabled {
			continue
		}
		keep[h.ID] = true
		if w := d.workers[h.ID]; w != nil {
			w.hook.Store(h)
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
		w.hook.Store(h)
		d.workers[h.ID] = w
		go func() {
			defer close(w.done)
			d.work(wctx, w)
		}()
	}
	var stop []*worker
	for id, w := range d.workers {
		if !keep[id] {
			w.cancel()
			stop = append(stop, w)
			delete(d.workers, id)
		}
	}
	d.mu.Unlock()
	// Waited for without the lock: a worker releasing its lease may take
	// up to --webhook-timeout, and Notify (the local aggregator's tap)
	// must not wait for it.
	for _, w := range stop {
		<-w.done
	}
	return nil
}

func (d *Deliverer) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, w := range d.workers {
		w.cancel()
		<-w.done
		delete(d.workers, id)
	}
}

// work runs one webhook's worker: take the lease, deliver while it is
// held, and try again when it is lost.
func (d *Deliverer) work(ctx context.Context, w *worker) {
	id := w.hook.Load().ID
	for ctx.Err() == nil {
		held, err := d.ds.Lease(ctx, id, d.owner, d.cfg.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("cannot take a webhook's delivery lease; retrying", "webhook", id, "err", err)
		}
		if !held {
			d.wait(ctx, w, d.cfg.LeaseTTL/3)
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			d.renew(lctx, cancel, id)
		}()
		// The gauges are the lease holder's: other processes leave them
		// out, so that summing them over processes counts each once.
		outbox, lag, gauged := d.m.gauges(id)
		d.deliverAll(lctx, w, outbox, lag)
		if gauged {
			d.m.dropWebhook(id)
		}
		cancel()
		<-renewed
		rctx, rcancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
		if err := d.ds.Release(rctx, id, d.owner); err != nil {
			d.log.Debug("cannot release a webhook's delivery lease; it expires", "webhook", id, "err", err)
		}
		rcancel()
	}
}

// renew renews the lease every third of its life until ctx is done, and
// cancels the delivery when it is lost: taken by another owner, or not
// renewed for half its life (this process cannot be sure to hold it).
func (d *Deliverer) renew(ctx context.Context, cancel context.CancelFunc, id string) {
	t := time.NewTicker(d.cfg.LeaseTTL / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A renewal that hangs must not outlive the lease: bounded by the
		// time left before this process stops trusting it.
		lctx, lcancel := context.WithTimeout(ctx, d.cfg.LeaseTTL/3)
		held, err := d.ds.Lease(lctx, id, d.owner, d.cfg.LeaseTTL)
		lcancel()
		switch {
		case err == nil && held:
			last = time.Now()
		case err == nil:
			d.log.Warn("lost a webhook's delivery lease to another process", "webhook", id)
			cancel()
			return
		case time.Since(last) > d.cfg.LeaseTTL/2:
			d.log.Warn("cannot renew a webhook's delivery lease; stopping its deliveries", "webhook", id, "err", err)
			cancel()
			return
		}
	}
}

// wait waits for dur, a wake-up or ctx; it reports false when ctx is
// done.
func (d *Deliverer) wait(ctx context.Context, w *worker, dur time.Duration) bool {
	return sleepOr(ctx, dur, w.wake)
}

// sleep waits for dur or ctx; it reports false when ctx is done.
func sleep(ctx context.Context, dur time.Duration) bool { return sleepOr(ctx, dur, nil) }

// sleepOr waits for dur, a wake-up (never with a nil channel) or ctx; it
// reports false when ctx is done.
func sleepOr(ctx context.Context, dur time.Duration, wake <-chan struct{}) bool {
	if dur <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// deliverAll sends the outbox in order until ctx is done.
func (d *Deliverer) deliverAll(ctx context.Context, w *worker, outbox, lag prometheus.Gauge) {
	id := w.hook.Load().ID
	for ctx.Err() == nil {
		bs, err := d.ds.Peek(ctx, id, peekBatches)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("cannot read a webhook's outbox; retrying", "webhook", id, "err", err)
			}
			d.wait(ctx, w, d.cfg.Poll)
			continue
		}
		if outbox != nil {
			if n, err := d.ds.OutboxLen(ctx, id); err == nil {
				outbox.Set(float64(n))
			}
			age := 0.0
			if len(bs) > 0 {
				age = max(d.cfg.now().Sub(bs[0].FirstAt).Seconds(), 0)
			}
			lag.Set(age)
		}
		if len(bs) == 0 {
			d.wait(ctx, w, d.cfg.Poll)
			continue
		}
		for i := range bs {
			if !d.deliver(ctx, w, &bs[i]) {
				return
			}
		}
	}
}

// result is what one attempt came to.
type result int

const (
	resultOK        result = iota
	resultRetry            // 5xx, 408, 429, a timeout or a connection error
	resultPermanent        // any other answer
	resultRefused          // the address policy refused the destination
	resultAborted          // ctx ended during the attempt: not an attempt at all
)

// deliver sends one batch until it is accepted or dead-lettered. It
// reports false when ctx ended first: the batch stays in the outbox.
func (d *Deliverer) deliver(ctx context.Context, w *worker, b *store.OutboxBatch) bool {
	for attempt := 1; ; attempt++ {
		h := w.hook.Load()
		res, status, retryAfter, latency, msg := d.attempt(ctx, h, b)
		if res == resultAborted {
			return false
		}
		now := d.cfg.now()
		if err := d.ds.AddAttempt(ctx, h.ID, store.Attempt{At: now, DeliveryID: b.ID, Status: status, Latency: latency, Error: msg}); err != nil && ctx.Err() == nil {
			d.log.Debug("cannot record a delivery attempt", "webhook", h.ID, "err", err)
		}
		switch res {
		case resultOK:
			d.m.Delivered.Inc()
			return d.retryStore(ctx, func() error { return d.ds.Ack(ctx, h.ID, b.ID) })
		case resultPermanent:
			return d.dead(ctx, b, store.DeadRejected, msg, attempt)
		case resultRefused:
			return d.dead(ctx, b, store.DeadRefused, msg, attempt)
		}
		deadline := b.FirstAt.Add(d.cfg.GiveUpAfter)
		if !now.Before(deadline) {
			return d.dead(ctx, b, store.DeadGaveUp, msg, attempt)
		}
		d.m.Retried.Inc()
		delay := d.backoff(attempt)
		if retryAfter > 0 {
			delay = min(retryAfter, d.cfg.BackoffMax)
		}
		// One last attempt at the give-up time rather than none.
		if !sleep(ctx, min(delay, deadline.Sub(now))) {
			return false
		}
	}
}

// backoff is the delay after the attempt-th failure: a random time up to
// min(BackoffMax, BackoffBase*2^(attempt-1)).
func (d *Deliverer) backoff(attempt int) time.Duration {
	ceil := d.cfg.BackoffBase
	for i := 1; i < attempt && ceil < d.cfg.BackoffMax; i++ {
		ceil *= 2 // stops long before it could overflow
	}
	ceil = min(ceil, d.cfg.BackoffMax)
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// dead moves b to the dead letters.
func (d *Deliverer) dead(ctx context.Context, b *store.OutboxBatch, reason, msg string, attempts int) bool {
	d.m.Failed.Inc()
	var dropped int
	ok := d.retryStore(ctx, func() error {
		var err error
		dropped, err = d.ds.AddDeadLetter(ctx, store.DeadLetter{OutboxBatch: *b, Reason: reason, LastError: msg,
			Attempts: attempts, DeadAt: d.cfg.now()}, d.cfg.Limits())
		return err
	})
	if ok {
		d.m.DeadLetter(reason, 1)
		d.m.DeadDropped.Add(float64(dropped))
		d.log.Warn("webhook delivery sent to the dead letters", "webhook", b.WebhookID, "delivery", b.ID, "reason", reason, "err", msg, "attempts", attempts)
	}
	return ok
}

// retryStore runs a store write until it succeeds or ctx is done.
func (d *Deliverer) retryStore(ctx context.Context, fn func() error) bool {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := fn()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.log.Warn("cannot write a webhook delivery's state; retrying", "err", err)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// maxErrorBody is how much of a failed answer's body an attempt records.
const maxErrorBody = 256

// attempt POSTs b once.
func (d *Deliverer) attempt(ctx context.Context, h *store.Webhook, b *store.OutboxBatch) (res result, status int, retryAfter, latency time.Duration, msg string) {
	if err := store.CheckWebhookURL(ctx, h.URL, d.cfg.AllowPrivate, nil); err != nil {
		if ctx.Err() != nil {
			return resultAborted, 0, 0, 0, ""
		}
		return resultRefused, 0, 0, 0, store.ErrorMessage(err)
	}
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.URL, bytes.NewReader(b.Body))
	if err != nil {
		return resultPermanent, 0, 0, 0, "cannot make the request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderDelivery, b.ID)
	req.Header.Set(HeaderEvent, b.Type)
	req.Header.Set(HeaderSignature, Sign(h.Secret, time.Now(), b.Body))
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return resultAborted, 0, 0, 0, ""
		case isRefused(err):
			return resultRefused, 0, 0, 0, (&refusedError{addr: req.URL.Host}).Error()
		case rctx.Err() != nil:
			return resultRetry, 0, 0, time.Since(start), fmt.Sprintf("no answer within %s (--webhook-timeout)", d.cfg.Timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return resultRetry, 0, 0, time.Since(start), err.Error()
	}
	defer resp.Body.Close()
	var snippet [maxErrorBody]byte
	n, _ := io.ReadFull(resp.Body, snippet[:])
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	latency = time.Since(start)
	d.m.Latency.Observe(latency.Seconds())
	status = resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return resultOK, status, 0, latency, ""
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		res = resultRetry
	default:
		res = resultPermanent
	}
	msg = "HTTP " + strconv.Itoa(status)
	if s := printable(snippet[:n]); s != "" {
		msg += ": " + s
	}
	return res, status, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), latency, msg
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// printable keeps the printable ASCII of b, for a message.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else if c == '\n' || c == '\t' {
			out = append(out, ' ')
		}
	}
	return string(bytes.TrimSpace(out))
}
