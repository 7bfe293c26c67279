package webhook

import (
	"errors"
	"time"

	"github.com/qredge/qredge/store"
)

// Config configures the Router, the Applier and the Deliverer. Get
// defaults from DefaultConfig; cmd fills the flag-bound fields
// (RegisterFlags).
type Config struct {
	// AllowPrivate lets webhooks reach loopback, private and link-local
	// addresses (--webhook-allow-private): for receivers inside the
	// operator's own network, and for tests.
	AllowPrivate bool
	// Timeout bounds one delivery request, connecting included
	// (--webhook-timeout).
	Timeout time.Duration
	// GiveUpAfter is how long a batch is retried, from when it was
	// enqueued, before it goes to the dead letters
	// (--webhook-give-up-after).
	GiveUpAfter time.Duration
	// MaxEvents is the most events one delivery carries
	// (--webhook-max-events).
	MaxEvents int
	// OutboxCap is the most batches a webhook's outbox holds; batches
	// beyond it go to the dead letters as backlog_full
	// (--webhook-outbox-cap).
	OutboxCap int
	// DeadLetterCap is the most dead letters kept per webhook; the
	// oldest beyond it are dropped and counted.
	DeadLetterCap int
	// BackoffBase and BackoffMax bound the retry delays: attempt n waits
	// a random time up to min(BackoffMax, BackoffBase*2^(n-1)) ("full
	// jitter"), or what the receiver's Retry-After asks, up to
	// BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// LeaseTTL is how long a webhook's delivery lease lasts unless it is
	// renewed (every third of it): how long a crashed process's webhooks
	// wait before another process delivers them.
	LeaseTTL time.Duration
	// Poll is how often a webhook whose outbox is empty looks again
	// (Deliverer.Notify wakes it at once).
	Poll time.Duration
	// Refresh is how often the Router and the Deliverer read the webhook
	// list (Reload reads it at once).
	Refresh time.Duration
	// MetricWebhooks bounds the webhooks the per-webhook gauges name; the
	// others are left out of them.
	MetricWebhooks int
	// Now is the clock of FirstAt, DeadAt, attempts and the give-up time;
	// nil is time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults: private addresses refused, 10 s per
// request, give up after 24 h, 100 events per delivery, 100,000 batches
// per outbox, 1,000 dead letters, backoff from 1 s to 5 min, 30 s leases,
// polling every second and reading the webhook list every 5 s.
func DefaultConfig() Config {
	lim := store.DefaultDeliveryLimits()
	return Config{Timeout: 10 * time.Second, GiveUpAfter: 24 * time.Hour, MaxEvents: 100,
		OutboxCap: lim.Outbox, DeadLetterCap: lim.DeadLetters, BackoffBase: time.Second, BackoffMax: 5 * time.Minute,
		LeaseTTL: 30 * time.Second, Poll: time.Second, Refresh: 5 * time.Second, MetricWebhooks: 200}
}

// Check returns an error naming the first invalid setting, by its flag
// where it has one.
func (c *Config) Check() error {
	switch {
	case c.Timeout < time.Millisecond:
		return errors.New("--webhook-timeout must be at least 1ms")
	case c.GiveUpAfter < c.Timeout:
		return errors.New("--webhook-give-up-after must be at least --webhook-timeout")
	case c.MaxEvents < 1 || c.MaxEvents > 10000:
		return errors.New("--webhook-max-events must be between 1 and 10000")
	case c.OutboxCap < 1:
		return errors.New("--webhook-outbox-cap must be at least 1")
	case c.DeadLetterCap < 1:
		return errors.New("the dead letter cap must be at least 1")
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return errors.New("the retry backoff must be positive, its maximum at least its base")
	case c.LeaseTTL < 30*time.Millisecond:
		return errors.New("the delivery lease must last at least 30ms")
	case c.Poll <= 0 || c.Refresh <= 0:
		return errors.New("the poll and refresh intervals must be positive")
	}
	return nil
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// Limits returns the store's limits of this configuration.
func (c *Config) Limits() store.DeliveryLimits {
	return store.DeliveryLimits{Outbox: c.OutboxCap, DeadLetters: c.DeadLetterCap}
}
