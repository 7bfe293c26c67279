package store

import (
	"context"
	"time"
)

// LinkStore is the storage of links. Implementations validate nothing:
// callers pass links that passed Validate. They assign Version, CreatedAt
// and UpdatedAt, and after every committed change they notify the
// subscribers of their change feed in commit order.
type LinkStore interface {
	// CreateLink stores a new link. It fails with ECONFLICT if a link with
	// the same (domain, code) exists.
	CreateLink(ctx context.Context, l *Link) (*Link, error)
	// GetLink returns the link (domain, code) or ENOTFOUND.
	GetLink(ctx context.Context, domain, code string) (*Link, error)
	// UpdateLink replaces the link with the same (domain, code). If
	// ifVersion is not zero and differs from the stored version it fails
	// with EPRECONDITION and changes nothing.
	UpdateLink(ctx context.Context, l *Link, ifVersion uint64) (*Link, error)
	// DeleteLink removes the link (domain, code), with the same ifVersion
	// rule as UpdateLink.
	DeleteLink(ctx context.Context, domain, code string, ifVersion uint64) error
	// ListLinks returns links in key order (code, then domain).
	ListLinks(ctx context.Context, opt ListOptions) (*LinkPage, error)
	// ForEachLink calls fn for every link, in key order, stopping at the
	// first error. It is how an edge loads its table.
	ForEachLink(ctx context.Context, fn func(*Link) error) error
}

// ListOptions selects a page of links.
type ListOptions struct {
	Limit  int    // 1..MaxListLimit; 0 means DefaultListLimit
	Cursor string // opaque, from LinkPage.NextCursor; "" starts at the beginning
	Tag    string // only links carrying this tag, when not empty
}

// PageLimit returns Limit bounded to 1..MaxListLimit, with 0 meaning
// DefaultListLimit.
func (o ListOptions) PageLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultListLimit
	case o.Limit > MaxListLimit:
		return MaxListLimit
	}
	return o.Limit
}

// Paging limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// LinkPage is one page of a listing. NextCursor is empty on the last page.
type LinkPage struct {
	Links      []*Link `json:"links"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// ChangeOp says what a change did to a link.
type ChangeOp uint8

const (
	OpPut    ChangeOp = 1 // created or updated; Change.Link holds the new state
	OpDelete ChangeOp = 2 // deleted; Change.Link holds the last state
)

// Change is one entry of a store's change feed. Version is the link's new
// version (for a delete, the version the deletion was given), so a consumer
// can drop changes it has already applied.
type Change struct {
	Op      ChangeOp
	Link    *Link
	Version uint64
}

// ChangeFeed delivers committed changes to subscribers, in commit order.
type ChangeFeed interface {
	// Subscribe registers fn to be called after every committed change. fn
	// must not block for long and must not call back into the store.
	Subscribe(fn func(Change))
}

// API key scopes. Read keys may only read links; write keys may also create,
// change and delete them; admin keys may also manage API keys.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool {
	return s == ScopeRead || s == ScopeWrite || s == ScopeAdmin
}

// ScopeAllows reports whether a key with scope have may do what needs
// scope need.
func ScopeAllows(have, need string) bool {
	rank := func(s string) int {
		switch s {
		case ScopeRead:
			return 1
		case ScopeWrite:
			return 2
		case ScopeAdmin:
			return 3
		}
		return 0
	}
	return rank(have) >= rank(need) && rank(need) > 0
}

// APIKey is the stored form of an API key: never the key itself, only its
// SHA-256 hash.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scope     string    `json:"scope"`
	Prefix    string    `json:"prefix"` // the first characters of the key, to recognise it
	Hash      string    `json:"-"`      // hex SHA-256 of the key
	CreatedAt time.Time `json:"created_at"`
}

// KeyStore stores API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key with that hash, or ENOTFOUND.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeKey deletes the key with that ID, or fails with ENOTFOUND.
	RevokeKey(ctx context.Context, id string) error
}

// MaxBulkLinks is the most links one bulk creation may hold.
const MaxBulkLinks = 10000

// BulkCreator is implemented by stores that create many links in one call,
// much faster than one CreateLink per link.
type BulkCreator interface {
	// CreateLinks creates links, which the caller has validated and which
	// hold no (domain, code) twice. It returns, per link, the created link
	// or the reason it was not created (ECONFLICT when it exists). When
	// atomic, it is all or nothing: if any link cannot be created, none is,
	// and the links that could have been get a nil error and a nil link.
	// A non-nil error is for the call as a whole (EUNAVAILABLE): the links
	// reported created then were created, and the others may or may not
	// have been.
	CreateLinks(ctx context.Context, links []*Link, atomic bool) ([]*Link, []error, error)
	// LinksExist reports, per link, whether a link with its (domain,
	// code) is stored: the links CreateLinks would refuse with ECONFLICT.
	// It writes nothing. A bulk request that fails for other reasons
	// uses it to name the links that exist in the same answer.
	LinksExist(ctx context.Context, links []*Link) ([]bool, error)
}
