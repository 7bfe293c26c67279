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
func AppendOutboxBatch(dst []byte, b *OutboxBatch) []byte {
	meta, err := json.Marshal(b)
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode an outbox batch: %v", err))
	}
	dst = append(dst, meta...)
	dst = append(dst, '\n')
	return append(dst, b.Body...)
}

// DecodeOutboxBatch reads what AppendOutboxBatch wrote. The body is a
// copy.
func DecodeOutboxBatch(data []byte) (*OutboxBatch, error) {
	meta, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, errors.New("cannot decode an outbox batch: no body")
	}
	b := &OutboxBatch{}
	if err := json.Unmarshal(meta, b); err != nil {
		return nil, fmt.Errorf("cannot decode an outbox batch: %w", err)
	}
	b.Body = append([]byte(nil), body...)
	return b, nil
}

// AppendDeadLetter appends the stored form of d, as AppendOutboxBatch.
func AppendDeadLetter(dst []byte, d *DeadLetter) []byte {
	meta, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode a dead letter: %v", err))
	}
	dst = append(dst, meta...)
	dst = append(dst, '\n')
	return append(dst, d.Body...)
}

// DecodeDeadLetter reads what AppendDeadLetter wrote.
func DecodeDeadLetter(data []byte) (*DeadLetter, error) {
	meta, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return nil, errors.New("cannot decode a dead letter: no body")
	}
	d := &DeadLetter{}
	if err := json.Unmarshal(meta, d); err != nil {
		return nil, fmt.Errorf("cannot decode a dead letter: %w", err)
	}
	d.Body = append([]byte(nil), body...)
	return d, nil
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
