package store

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Redirect statuses a link may use. 302 is the default: browsers cache 301
// responses and those later scans never reach qredge, so analytics are lost
// and the destination can no longer be changed for those visitors.
const (
	DefaultStatus = 302
)

// Query precedences of forwarded queries.
const (
	QueryDestinationWins = "destination"
	QueryScanWins        = "scan"
)

// Device classes a rule can match.
const (
	DeviceIOS     = "ios"
	DeviceAndroid = "android"
	DeviceDesktop = "desktop"
	DeviceOther   = "other"
)

// Link is one short link: a (domain, code) pair that redirects to a
// destination, optionally varied by rules, variants and a schedule.
//
// The zero Domain means the link answers on every host the deployment
// serves; a non-empty Domain makes it answer only on that host.
type Link struct {
	Code         string    `json:"code"`
	Domain       string    `json:"domain,omitempty"`
	Destination  string    `json:"destination"`
	Status       int       `json:"status"`
	Rules        []Rule    `json:"rules,omitempty"`
	Variants     []Variant `json:"variants,omitempty"`
	Schedule     *Schedule `json:"schedule,omitempty"`
	ForwardQuery bool      `json:"forward_query"`
	// QueryPrecedence decides, with ForwardQuery, whose value a key keeps
	// when both the scan and the destination have it: "destination" (the
	// default, also when empty) or "scan".
	QueryPrecedence string   `json:"query_precedence,omitempty"`
	Disabled        bool     `json:"disabled"`
	Tags            []string `json:"tags,omitempty"`
	// Title and Notes are for the people managing links; visitors never
	// see them.
	Title string `json:"title,omitempty"`
	Notes string `json:"notes,omitempty"`
	// GoneURL is where visitors go while the link is disabled or past its
	// scan limit, instead of the deployment's --gone-url or the 410 page.
	GoneURL string `json:"gone_url,omitempty"`
	// MaxScans stops the link after that many scans (0: no limit); scans
	// by bots count only with MaxScansIncludeBots. ScanLimitReachedAt is
	// set by the server when the limit is reached.
	MaxScans            int64      `json:"max_scans,omitempty"`
	MaxScansIncludeBots bool       `json:"max_scans_include_bots,omitempty"`
	ScanLimitReachedAt  *time.Time `json:"scan_limit_reached_at,omitempty"`
	// PasswordHash protects the link: visitors must give the password
	// first (an argon2id hash, see HashPassword). Password is the plain
	// password a client writes: Validate replaces it with its hash, and no
	// store keeps it.
	PasswordHash string    `json:"password_hash,omitempty"`
	Password     string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Version increases with every change to any link in a store; it is the
	// link's ETag and orders the change feed.
	Version uint64 `json:"version"`
}

// Rule sends the visitors that match When to Destination. Rules are
// evaluated in order and the first match wins; a link without a matching
// rule falls back to its variants, then to its destination.
type Rule struct {
	// Name labels the rule in stats and events (rule:NAME instead of its
	// position).
	Name        string `json:"name,omitempty"`
	When        Match  `json:"when"`
	Destination string `json:"destination"`
}

// Match is the condition of a rule. Every non-empty field must match (AND);
// within a list any entry may match (OR).
type Match struct {
	Device  []string          `json:"device,omitempty"`
	Country []string          `json:"country,omitempty"`
	Lang    []string          `json:"lang,omitempty"`
	Query   map[string]string `json:"query,omitempty"`
	Header  map[string]string `json:"header,omitempty"`
	Cookie  map[string]string `json:"cookie,omitempty"`
}

// IsEmpty reports whether m has no condition at all.
func (m *Match) IsEmpty() bool {
	return len(m.Device) == 0 && len(m.Country) == 0 && len(m.Lang) == 0 &&
		len(m.Query) == 0 && len(m.Header) == 0 && len(m.Cookie) == 0
}

// Variant is one arm of an A/B split. Name identifies the arm in the sticky
// cookie, so visitors keep their arm when weights change; when omitted it is
// set to "v1", "v2", ... by position.
type Variant struct {
	Name        string `json:"name,omitempty"`
	Destination string `json:"destination"`
	Weight      int    `json:"weight"`
}

// Schedule limits when a link sends visitors to its destination: before
// NotBefore they go to BeforeURL (404 without one), after NotAfter to
// AfterURL (410 without one). Times are UTC instants.
type Schedule struct {
	NotBefore *time.Time `json:"not_before,omitempty"`
	BeforeURL string     `json:"before_url,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	AfterURL  string     `json:"after_url,omitempty"`
}

// Key returns the link's storage key: code and domain joined by a NUL byte,
// so that keys sort by code first.
func (l *Link) Key() string {
	return LinkKey(l.Domain, l.Code)
}

// LinkKey returns the storage key of the link (domain, code).
func LinkKey(domain, code string) string {
	return code + "\x00" + domain
}

// Redacted returns l, or when it has a password hash a shallow copy
// without it: what the API, the audit log and webhooks show of a link.
func (l *Link) Redacted() *Link {
	if l == nil || l.PasswordHash == "" {
		return l
	}
	c := *l
	c.PasswordHash = ""
	return &c
}

// Audited returns l as the audit log keeps it: Redacted, but with
// password_hash standing for the password by a fingerprint of its hash
// (not the hash: it opens the link's cookies), so that setting, changing
// and removing a password show in the log.
func (l *Link) Audited() *Link {
	if l == nil || l.PasswordHash == "" {
		return l
	}
	c := *l
	sum := sha256.Sum256([]byte(l.PasswordHash))
	c.PasswordHash = "redacted:" + hex.EncodeToString(sum[:4])
	return &c
}

// Clone returns a deep copy of l.
func (l *Link) Clone() *Link {
	c := *l
	if l.Rules != nil {
		c.Rules = make([]Rule, len(l.Rules))
		for i, r := range l.Rules {
			c.Rules[i] = Rule{Name: r.Name, Destination: r.Destination, When: r.When.clone()}
		}
	}
	if l.Variants != nil {
		c.Variants = append([]Variant(nil), l.Variants...)
	}
	if l.Schedule != nil {
		s := *l.Schedule
		if s.NotBefore != nil {
			t := *s.NotBefore
			s.NotBefore = &t
		}
		if s.NotAfter != nil {
			t := *s.NotAfter
			s.NotAfter = &t
		}
		c.Schedule = &s
	}
	if l.Tags != nil {
		c.Tags = append([]string(nil), l.Tags...)
	}
	if l.ScanLimitReachedAt != nil {
		t := *l.ScanLimitReachedAt
		c.ScanLimitReachedAt = &t
	}
	return &c
}

func (m Match) clone() Match {
	c := Match{}
	if m.Device != nil {
		c.Device = append([]string(nil), m.Device...)
	}
	if m.Country != nil {
		c.Country = append([]string(nil), m.Country...)
	}
	if m.Lang != nil {
		c.Lang = append([]string(nil), m.Lang...)
	}
	c.Query = cloneMap(m.Query)
	c.Header = cloneMap(m.Header)
	c.Cookie = cloneMap(m.Cookie)
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
