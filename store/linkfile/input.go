package linkfile

import "github.com/qredge/qredge/store"

// Input is a link as a client writes it: the body of POST /api/v1/links,
// an item of a JSON bulk request, and the writable part of a JSON line.
// Version, times, short_url and qr_url are the server's. Zero fields are
// left out when encoding, so that a body says only what is set.
type Input struct {
	Code            string          `json:"code,omitempty"`
	Domain          string          `json:"domain,omitempty"`
	Destination     string          `json:"destination"`
	Status          int             `json:"status,omitempty"`
	Rules           []store.Rule    `json:"rules,omitempty"`
	Variants        []store.Variant `json:"variants,omitempty"`
	Schedule        *store.Schedule `json:"schedule,omitempty"`
	ForwardQuery    bool            `json:"forward_query,omitempty"`
	QueryPrecedence string          `json:"query_precedence,omitempty"`
	Disabled        bool            `json:"disabled,omitempty"`
	Tags            []string        `json:"tags,omitempty"`
	Title           string          `json:"title,omitempty"`
	Notes           string          `json:"notes,omitempty"`
	GoneURL         string          `json:"gone_url,omitempty"`
	MaxScans        int64           `json:"max_scans,omitempty"`
	// MaxScansIncludeBots counts bots' scans toward MaxScans.
	MaxScansIncludeBots bool `json:"max_scans_include_bots,omitempty"`
	// Password protects the link; it is write-only (the store keeps its
	// hash). PasswordHash carries a hash instead, as exports from a store
	// and backups hold it.
	Password     string `json:"password,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
}

// Link returns the link in.
func (in *Input) Link() *store.Link {
	return &store.Link{
		Code: in.Code, Domain: in.Domain, Destination: in.Destination, Status: in.Status,
		Rules: in.Rules, Variants: in.Variants, Schedule: in.Schedule,
		ForwardQuery: in.ForwardQuery, QueryPrecedence: in.QueryPrecedence, Disabled: in.Disabled, Tags: in.Tags,
		Title: in.Title, Notes: in.Notes, GoneURL: in.GoneURL, MaxScans: in.MaxScans, MaxScansIncludeBots: in.MaxScansIncludeBots,
		Password: in.Password, PasswordHash: in.PasswordHash,
	}
}

// InputOf returns the fields of l a client writes.
func InputOf(l *store.Link) *Input {
	return &Input{
		Code: l.Code, Domain: l.Domain, Destination: l.Destination, Status: l.Status,
		Rules: l.Rules, Variants: l.Variants, Schedule: l.Schedule,
		ForwardQuery: l.ForwardQuery, QueryPrecedence: l.QueryPrecedence, Disabled: l.Disabled, Tags: l.Tags,
		Title: l.Title, Notes: l.Notes, GoneURL: l.GoneURL, MaxScans: l.MaxScans, MaxScansIncludeBots: l.MaxScansIncludeBots,
		PasswordHash: l.PasswordHash,
	}
}
