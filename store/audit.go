package store

import (
	"context"
	"time"
)

// Audit actions.
const (
	AuditCreate     = "create"
	AuditUpdate     = "update"
	AuditDelete     = "delete"
	AuditBulkCreate = "bulk_create" // one entry per link of a bulk creation
)

// AuditEntry records one change of a link: who made it (the API key's id
// and name, never the key), when, and the link before and after. Before is
// nil for creations, After for deletions.
type AuditEntry struct {
	ID      string    `json:"id"` // assigned by the store; orders entries
	Time    time.Time `json:"time"`
	KeyID   string    `json:"key_id"`
	KeyName string    `json:"key_name"`
	Action  string    `json:"action"`
	Code    string    `json:"code"`
	Domain  string    `json:"domain,omitempty"`
	Before  *Link     `json:"before,omitempty"`
	After   *Link     `json:"after,omitempty"`
}

// AuditQuery selects a page of audit entries, newest first.
type AuditQuery struct {
	Code   string // only entries of this code, when not empty
	Domain string // only entries of this domain, when not empty
	Limit  int    // 1..MaxListLimit; 0 means DefaultListLimit
	Cursor string // opaque, from AuditPage.NextCursor
}

// PageLimit is Limit bounded as ListOptions.PageLimit bounds it.
func (q AuditQuery) PageLimit() int { return ListOptions{Limit: q.Limit}.PageLimit() }

// AuditPage is one page of the audit log. NextCursor is empty on the last
// page.
type AuditPage struct {
	Entries    []*AuditEntry `json:"entries"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// AuditLog is the record of link changes. Backends may cap it (the oldest
// entries go first) and document how.
type AuditLog interface {
	// AppendAudit stores entries, in order, assigning their IDs.
	AppendAudit(ctx context.Context, entries ...AuditEntry) error
	// ListAudit returns entries newest first. A cursor that is not one the
	// store returned fails with EINVALID.
	ListAudit(ctx context.Context, q AuditQuery) (*AuditPage, error)
}

// Matches reports whether e is selected by q's filters.
func (q AuditQuery) Matches(e *AuditEntry) bool {
	return (q.Code == "" || e.Code == q.Code) && (q.Domain == "" || e.Domain == q.Domain)
}

// InvalidAuditCursor is the error of a cursor a store did not return.
func InvalidAuditCursor() error {
	return &Error{Code: EINVALID, Message: "invalid cursor",
		Fields: []FieldError{{Field: "cursor", Message: "is not a cursor returned by this API"}}}
}
