package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Webhook event kinds a webhook may subscribe to.
const (
	EventScan        = "scan"
	EventLinkCreated = "link.created"
	EventLinkUpdated = "link.updated"
	EventLinkDeleted = "link.deleted"
)

// WebhookEvents are the known event kinds, in the order they are listed.
var WebhookEvents = []string{EventScan, EventLinkCreated, EventLinkUpdated, EventLinkDeleted}

// Limits of the webhook model.
const (
	MinWebhookSecretLen = 16
	MaxWebhookSecretLen = 256
	MaxWebhookCodes     = 1000
	MaxWebhookTags      = MaxTags
)

// Webhook is a receiver of events: qredge POSTs batches of the events it
// subscribes to, signed with Secret, to URL.
type Webhook struct {
	ID  string `json:"id"`  // assigned by the store: "wh_" and random characters
	URL string `json:"url"` // absolute http(s) URL
	// Secret is the HMAC key of the signatures; the API shows it only when
	// the webhook is created.
	Secret string   `json:"secret,omitempty"`
	Events []string `json:"events"`          // any of WebhookEvents
	Codes  []string `json:"codes,omitempty"` // scan events only of these codes (empty: all)
	// Tags: scan and link events only of links with one of these tags
	// (empty: all).
	Tags []string `json:"tags,omitempty"`
	// SampleRate: 0 delivers every scan, a rate in (0, 1] that fraction of
	// them, chosen by the event id, so every process and every retry
	// chooses the same scans.
	SampleRate float64   `json:"sample_rate,omitempty"`
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Version starts at 1 and increases with every change of the webhook:
	// its ETag.
	Version uint64 `json:"version"`
}

// Clone returns a deep copy of w.
func (w *Webhook) Clone() *Webhook {
	c := *w
	c.Events = append([]string(nil), w.Events...)
	if w.Codes != nil {
		c.Codes = append([]string(nil), w.Codes...)
	}
	if w.Tags != nil {
		c.Tags = append([]string(nil), w.Tags...)
	}
	return &c
}

// Wants reports whether w subscribes to the event kind.
func (w *Webhook) Wants(event string) bool { return slices.Contains(w.Events, event) }

// ValidateWebhook checks every field of w that a client sets, returning an
// *Error with code EINVALID that names each field at fault, or nil. It
// sorts events, codes and tags and drops duplicates. It does not look the
// URL's host up: CheckWebhookHost does, for the address policy.
func ValidateWebhook(w *Webhook) error {
	var v validator
	if msg := CheckURL(w.URL); msg != "" {
		v.add("url", msg)
	}
	switch n := len(w.Secret); {
	case n < MinWebhookSecretLen || n > MaxWebhookSecretLen:
		v.add("secret", fmt.Sprintf("must be %d to %d bytes, got %d", MinWebhookSecretLen, MaxWebhookSecretLen, n))
	case HasControl(w.Secret):
		v.add("secret", "must not contain control characters")
	}
	if len(w.Events) == 0 {
		v.add("events", fmt.Sprintf("must name at least one of %q", WebhookEvents))
	}
	for i, e := range w.Events {
		if !knownEvent(e) {
			v.add(fmt.Sprintf("events[%d]", i), fmt.Sprintf("%q is not an event: use one of %q", e, WebhookEvents))
		}
	}
	v.list("codes", "codes", w.Codes, MaxWebhookCodes, CheckCode)
	v.list("tags", "tags", w.Tags, MaxWebhookTags, CheckTag)
	if math.IsNaN(w.SampleRate) || w.SampleRate < 0 || w.SampleRate > 1 {
		v.add("sample_rate", fmt.Sprintf("must be between 0 and 1, got %v", w.SampleRate))
	}
	if len(v.fields) > 0 {
		return &Error{Code: EINVALID, Message: "invalid webhook", Fields: v.fields}
	}
	w.Events = sortedSet(w.Events)
	w.Codes = sortedSet(w.Codes)
	w.Tags = sortedSet(w.Tags)
	return nil
}

func knownEvent(e string) bool { return slices.Contains(WebhookEvents, e) }

// sortedSet sorts xs in place and drops duplicates.
func sortedSet(xs []string) []string {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// WebhookIDPrefix starts every webhook id.
const WebhookIDPrefix = "wh_"

// NewWebhookID returns a new random webhook id.
func NewWebhookID() string { return WebhookIDPrefix + randomString(16) }

// NewWebhookSecret returns a new random signing secret of about 190 bits.
func NewWebhookSecret() string { return "whsec_" + randomString(33) }

// WebhookNotFound is the ENOTFOUND error of every backend for a webhook.
func WebhookNotFound(id string) error {
	return Errorf(ENOTFOUND, "webhook %q not found", id)
}

// WebhookVersionMismatch is the EPRECONDITION error of a webhook write
// whose If-Match version (want) is not the stored one (have).
func WebhookVersionMismatch(have, want uint64) error {
	return Errorf(EPRECONDITION, "webhook was changed: it is at version %d, If-Match asked for %d", have, want)
}

// WebhookStore stores webhook definitions. Implementations validate
// nothing: callers pass webhooks that passed ValidateWebhook (and
// CheckWebhookHost).
type WebhookStore interface {
	// CreateWebhook stores a new webhook, assigning its ID, version 1 and
	// its times; the ID of w is ignored.
	CreateWebhook(ctx context.Context, w *Webhook) (*Webhook, error)
	// GetWebhook returns the webhook or ENOTFOUND.
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// UpdateWebhook replaces the webhook with w's ID, keeping its creation
	// time. If ifVersion is not zero and differs from the stored version
	// it fails with EPRECONDITION and changes nothing.
	UpdateWebhook(ctx context.Context, w *Webhook, ifVersion uint64) (*Webhook, error)
	// DeleteWebhook removes the webhook with its outbox, lease, dead
	// letters and attempts, or fails with ENOTFOUND.
	DeleteWebhook(ctx context.Context, id string) error
	// ListWebhooks returns every webhook, by creation time.
	ListWebhooks(ctx context.Context) ([]*Webhook, error)
}

// SortWebhooks sorts webhooks by creation time, then ID.
func SortWebhooks(ws []*Webhook) {
	sort.Slice(ws, func(i, j int) bool {
		a, b := ws[i], ws[j]
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
}

// DeliveryStore is the durable side of webhook deliveries: a transactional
// outbox per webhook, the offsets of the event sources the outboxes were
// filled from, a lease per webhook, dead letters and an attempt log.
//
// Writes for a webhook that does not exist (deleted meanwhile) are
// dropped, so that nothing of a deleted webhook is left behind.
type DeliveryStore interface {
	// Enqueue appends batches to their webhooks' outboxes and stores last
	// as the offset of (source, part), atomically. It fails with ErrStale
	// and changes nothing when the stored offset is not prev (-1: none).
	// A batch whose outbox holds lim.Outbox batches goes to the dead
	// letters instead (reason DeadBacklogFull), counted in the result.
	// An empty source stores no offset (prev and last are ignored).
	Enqueue(ctx context.Context, source string, part int, prev, last int64, batches []OutboxBatch, lim DeliveryLimits) (EnqueueResult, error)
	// Offset returns the stored offset of (source, part).
	Offset(ctx context.Context, source string, part int) (last int64, ok bool, err error)
	// Peek returns the first n batches of the webhook's outbox, oldest
	// first.
	Peek(ctx context.Context, webhookID string, n int) ([]OutboxBatch, error)
	// Ack removes delivered batches from the outbox; unknown ids are
	// ignored.
	Ack(ctx context.Context, webhookID string, batchIDs ...string) error
	// OutboxLen returns how many batches wait in the outbox.
	OutboxLen(ctx context.Context, webhookID string) (int, error)

	// Lease takes, or renews, the webhook's delivery lease for owner for
	// ttl. It reports false while another owner holds it.
	Lease(ctx context.Context, webhookID, owner string, ttl time.Duration) (bool, error)
	// Release gives the lease up if owner holds it.
	Release(ctx context.Context, webhookID, owner string) error

	// AddDeadLetter moves a batch out of the outbox (if it is there) into
	// the dead letters, atomically, and drops the oldest dead letters
	// beyond lim.DeadLetters, returning how many it dropped.
	AddDeadLetter(ctx context.Context, d DeadLetter, lim DeliveryLimits) (dropped int, err error)
	// ListDeadLetters returns dead letters newest first.
	ListDeadLetters(ctx context.Context, webhookID string, limit int, cursor string) (*DeadLetterPage, error)
	// TakeDeadLetter removes a dead letter and returns it, or fails with
	// ENOTFOUND.
	TakeDeadLetter(ctx context.Context, webhookID, id string) (*DeadLetter, error)
	// RequeueDeadLetter moves a dead letter back to the end of the outbox,
	// with FirstAt set to firstAt and the same batch id, atomically, and
	// returns the batch; ENOTFOUND when there is no such dead letter.
	RequeueDeadLetter(ctx context.Context, webhookID, id string, firstAt time.Time) (*OutboxBatch, error)

	// AddAttempt records a delivery attempt, keeping the newest
	// MaxAttempts of the webhook.
	AddAttempt(ctx context.Context, webhookID string, a Attempt) error
	// ListAttempts returns the recorded attempts, newest first.
	ListAttempts(ctx context.Context, webhookID string) ([]Attempt, error)
}
