package store

import (
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
	QueryPrecedence string    `json:"query_precedence,omitempty"`
	Disabled        bool      `json:"disabled"`
	Tags            []string  `json:"tags,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	// Version increases with every change to any link in a store; it is the
	// link's ETag and orders the change feed.
	Version uint64 `json:"version"`
}

// Rule sends the visitors that match When to Destination. Rules are
// evaluated in order and the first match wins; a link without a matching
// rule falls back to its variants, then to its destination.
type Rule struct {
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

// Clone returns a deep copy of l.
func (l *Link) Clone() *Link {
	c := *l
	if l.Rules != nil {
		c.Rules = make([]Rule, len(l.Rules))
		for i, r := range l.Rules {
			c.Rules[i] = Rule{Destination: r.Destination, When: r.When.clone()}
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
