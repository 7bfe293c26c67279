package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

// Delivery is the JSON body of every delivery. Events holds ScanEvents
// for type "scan" and LinkEvents for the link.* types.
type Delivery struct {
	ID        string            `json:"id"` // the Qredge-Delivery header
	WebhookID string            `json:"webhook_id"`
	Type      string            `json:"type"`
	Events    []json.RawMessage `json:"events"`
}

// ScanEvent is one scan as webhooks receive it. It never holds the
// visitor's IP address: Visitor is the daily-salted hash the edge made
// of it (and the device class), the same for one visitor on one UTC day.
type ScanEvent struct {
	ID            string `json:"id"`   // the event id (hex): receivers deduplicate by it
	Time          string `json:"time"` // RFC 3339, UTC, nanoseconds
	Code          string `json:"code"`
	Domain        string `json:"domain,omitempty"`
	LinkVersion   uint64 `json:"link_version"`
	LinkCreatedAt string `json:"link_created_at,omitempty"`
	// Target is why the scan went where it went: destination, rule,
	// variant, not_yet_active, expired, disabled or scan_limit; Rule (and
	// RuleName, when the rule has one) and Variant say which.
	Target   string `json:"target"`
	Rule     *int32 `json:"rule,omitempty"`
	RuleName string `json:"rule_name,omitempty"`
	Variant  string `json:"variant,omitempty"`
	Status   uint32 `json:"status"`
	Source   string `json:"source"` // qr or link
	Country  string `json:"country,omitempty"`
	Device   string `json:"device"` // ios, android, desktop, other or unknown
	Bot      bool   `json:"bot"`
	Referrer string `json:"referrer,omitempty"` // the referrer's host
	Lang     string `json:"lang,omitempty"`
	Visitor  string `json:"visitor,omitempty"`
}

// LinkEvent is one change of a link. Link is the link after the change
// (for link.deleted, its last state), never with its password hash.
type LinkEvent struct {
	ID   string      `json:"id"` // "link-" and the version the change gave: unique in a store
	Type string      `json:"type"`
	Time string      `json:"time"`
	Link *store.Link `json:"link"`
}

var targetNames = map[uint8]string{
	analytics.TargetDestination: "destination", analytics.TargetRule: "rule",
	analytics.TargetVariant: "variant", analytics.TargetVariantCookie: "variant",
	analytics.TargetNotYetActive: "not_yet_active", analytics.TargetExpired: "expired", analytics.TargetDisabled: "disabled",
	analytics.TargetScanLimit: "scan_limit",
}

// NewScanEvent returns the webhook form of a decoded scan.
func NewScanEvent(d *analytics.Decoded) ScanEvent {
	e := ScanEvent{ID: hex.EncodeToString(d.ID[:]), Time: time.Unix(0, d.Time).UTC().Format(time.RFC3339Nano),
		Code: d.Code, Domain: d.Domain, LinkVersion: d.LinkVersion, Target: targetNames[d.Target], Variant: d.Variant,
		Status: d.Status, Source: aggregate.SourceName(d.Source), Country: d.Country, Device: aggregate.DeviceName(d.Device), Bot: d.Bot, Referrer: d.ReferrerHost, Lang: d.Lang}
	if e.Target == "" {
		// Unspecified is the destination (events of old edges); a
		// target newer than this code is named as unknown, never as
		// another.
		e.Target = "unknown"
		if d.Target == analytics.TargetUnspecified {
			e.Target = "destination"
		}
	}
	if d.Target == analytics.TargetRule {
		r := d.Rule
		e.Rule, e.RuleName = &r, d.RuleName
	}
	if d.LinkCreated != 0 {
		e.LinkCreatedAt = time.Unix(0, d.LinkCreated).UTC().Format(time.RFC3339Nano)
	}
	if d.IPHash != 0 {
		e.Visitor = fmt.Sprintf("%016x", d.IPHash)
	}
	return e
}

// ChangeType names the event of a change: link.deleted for a delete;
// for a put, link.created when the link's CreatedAt equals its
// UpdatedAt (stores set both to one instant on creation and move
// UpdatedAt on every update), else link.updated.
func ChangeType(c *store.Change) string {
	switch {
	case c.Op == store.OpDelete:
		return store.EventLinkDeleted
	case c.Link.CreatedAt.Equal(c.Link.UpdatedAt):
		return store.EventLinkCreated
	}
	return store.EventLinkUpdated
}

// NewLinkEvent returns the webhook form of a change. Its time is the
// link's UpdatedAt, and for a delete (which records no time) now.
func NewLinkEvent(c *store.Change, now time.Time) LinkEvent {
	t := c.Link.UpdatedAt
	if c.Op == store.OpDelete {
		t = now
	}
	return LinkEvent{ID: "link-" + strconv.FormatUint(c.Version, 10), Type: ChangeType(c), Time: t.UTC().Format(time.RFC3339Nano), Link: c.Link.Redacted()}
}

// deliveryID derives a batch's id from what it was made of: the position
// of the events in their source (key), the webhook and the batch's
// number there, so that routing the same events again gives the same ids
// and receivers deduplicate them.
func deliveryID(key, webhookID string, n int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d", key, webhookID, n)
	return "dlv_" + hex.EncodeToString(h.Sum(nil)[:12])
}

// body builds a delivery's JSON body.
func body(id, webhookID, typ string, events []json.RawMessage) []byte {
	b, err := json.Marshal(&Delivery{ID: id, WebhookID: webhookID, Type: typ, Events: events})
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode a delivery: %v", err))
	}
	return b
}
