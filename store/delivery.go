package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrStale is returned by DeliveryStore.Enqueue when the offset stored for
// the source's partition is not the one the batch continues from: another
// consumer (or this one before a crash) got further, or the store lost
// recent writes. The caller must read the stored offset again and continue
// after it.
var ErrStale = errors.New("offset already stored: re-read the stored offset")

// OutboxBatch is one delivery: the JSON body POSTed to a webhook, built
// once when it is enqueued and sent unchanged on every retry.
type OutboxBatch struct {
	// ID is the delivery id (the Qredge-Delivery header), the same on
	// every retry and redelivery: receivers deduplicate by it.
	ID        string    `json:"id"`
	WebhookID string    `json:"webhook_id"`
	Type      string    `json:"type"` // an event kind (WebhookEvents)
	Body      []byte    `json:"-"`
	Events    int       `json:"events"`
	FirstAt   time.Time `json:"first_at"` // when it was (re-)enqueued: the give-up clock starts here
}

// Reasons of dead letters.
const (
	DeadRejected    = "rejected"     // the receiver answered a permanent error (4xx)
	DeadGaveUp      = "gave_up"      // still failing after the give-up time
	DeadRefused     = "refused"      // the address policy refused the destination
	DeadBacklogFull = "backlog_full" // the outbox was full when it was enqueued
)

// DeadLetter is a batch that was not delivered, kept for inspection and
// redelivery.
type DeadLetter struct {
	OutboxBatch
	Reason    string    `json:"reason"`
	LastError string    `json:"last_error,omitempty"`
	Attempts  int       `json:"attempts"`
	DeadAt    time.Time `json:"dead_at"`
}

// DeadLetterPage is one page of dead letters. NextCursor is empty on the
// last page.
type DeadLetterPage struct {
	DeadLetters []*DeadLetter `json:"dead_letters"`
	NextCursor  string        `json:"next_cursor,omitempty"`
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	At         time.Time     `json:"at"`
	DeliveryID string        `json:"delivery_id"`
	Status     int           `json:"status"` // HTTP status, 0 when there was no response
	Latency    time.Duration `json:"latency_ns"`
	Error      string        `json:"error,omitempty"`
}

// MaxAttempts is how many attempts a DeliveryStore keeps per webhook.
const MaxAttempts = 100

// DeliveryLimits bound what a DeliveryStore keeps per webhook.
type DeliveryLimits struct {
	Outbox      int // batches waiting in an outbox; more go to the dead letters
	DeadLetters int // dead letters; the oldest beyond it are dropped
}

// DefaultDeliveryLimits are 100,000 outbox batches and 1,000 dead letters.
func DefaultDeliveryLimits() DeliveryLimits {
	return DeliveryLimits{Outbox: 100000, DeadLetters: 1000}
}

// EnqueueResult says what Enqueue did besides appending.
type EnqueueResult struct {
	Overflow    int // batches that went to the dead letters: their outbox was full
	DeadDropped int // dead letters dropped beyond the cap to make room for them
}

// OffsetField names the offset of (source, part) in a store.
func OffsetField(source string, part int) string {
	return source + "/" + strconv.Itoa(part)
}

// AppendOutboxBatch appends the stored form of b: its fields as one line
// of JSON, a newline, and the body as it is (a JSON body is not escaped
// again).
func AppendOutboxBatch(dst []byte, b *OutboxBatch) []byte { return appendWithBody(dst, b, b.Body) }

// DecodeOutboxBatch reads what AppendOutboxBatch wrote. The body is a
// copy.
func DecodeOutboxBatch(data []byte) (*OutboxBatch, error) {
	return decodeWithBody(data, "an outbox batch", func(b *OutboxBatch) *[]byte { return &b.Body })
}

// AppendDeadLetter appends the stored form of d, as AppendOutboxBatch.
func AppendDeadLetter(dst []byte, d *DeadLetter) []byte { return appendWithBody(dst, d, d.Body) }

// DecodeDeadLetter reads what AppendDeadLetter wrote.
func DecodeDeadLetter(data []byte) (*DeadLetter, error) {
	return decodeWithBody(data, "a dead letter", func(d *DeadLetter) *[]byte { return &d.Body })
}

// appendWithBody appends v's JSON (which leaves the body out), a newline
// and the body.
func appendWithBody(dst []byte, v any, body []byte) []byte {
	meta, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode %T: %v", v, err))
	}
	return append(append(append(dst, meta...), '\n'), body...)
}

// decodeWithBody reads what appendWithBody wrote: the JSON into a new T,
// and a copy of the body into the field body points to.
func decodeWithBody[T any](data []byte, what string, body func(*T) *[]byte) (*T, error) {
	meta, rest, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, fmt.Errorf("cannot decode %s: no body", what)
	}
	v := new(T)
	if err := json.Unmarshal(meta, v); err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", what, err)
	}
	*body(v) = append([]byte(nil), rest...)
	return v, nil
}

// InvalidDeadLetterCursor is the error of a cursor a store did not return.
func InvalidDeadLetterCursor() error {
	return &Error{Code: EINVALID, Message: "invalid cursor",
		Fields: []FieldError{{Field: "cursor", Message: "is not a cursor returned by this API"}}}
}

// DeadLetterNotFound is the ENOTFOUND error of a dead letter.
func DeadLetterNotFound(webhookID, id string) error {
	return Errorf(ENOTFOUND, "no dead letter %q for webhook %q", id, webhookID)
}
