package api

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
)

// ResolveRequest describes a visitor for the resolve endpoint.
type ResolveRequest struct {
	UserAgent      string
	AcceptLanguage string
	Country        string
	IP             netip.Addr
	At             time.Time
	RawQuery       string
	Headers        [][2]string
	Cookies        [][2]string
}

// Resolution is the answer of the resolve endpoint.
type Resolution struct {
	Status    int             `json:"status"`
	Location  string          `json:"location,omitempty"`
	Reason    string          `json:"reason"`
	Rule      *int            `json:"rule,omitempty"`
	Variant   string          `json:"variant,omitempty"`
	SetCookie string          `json:"set_cookie,omitempty"`
	Cache     string          `json:"cache_control"`
	Visitor   ResolvedVisitor `json:"visitor"`
	Variants  []VariantChance `json:"variants,omitempty"`
	At        time.Time       `json:"at"`
}

// ResolvedVisitor is what the hot path made of the visitor.
type ResolvedVisitor struct {
	Device  string `json:"device"`
	Bot     bool   `json:"bot"`
	Country string `json:"country,omitempty"`
	Lang    string `json:"lang,omitempty"`
}

// VariantChance is a variant's share of new visitors.
type VariantChance struct {
	Name   string  `json:"name"`
	Weight int     `json:"weight"`
	Share  float64 `json:"share"`
}

// Resolver evaluates a link for a described visitor exactly as the
// redirect hot path would. cmd/qredge wires the hot path's implementation.
type Resolver interface {
	Resolve(l *store.Link, req ResolveRequest) Resolution
}

func (s *Server) resolveLink(w http.ResponseWriter, r *http.Request) error {
	domain, code, err := target(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := ResolveRequest{UserAgent: q.Get("ua"), AcceptLanguage: q.Get("lang"), RawQuery: q.Get("query")}
	if c := q.Get("country"); c != "" {
		c = strings.ToUpper(c)
		if !store.IsCountryCode(c) {
			return badRequest("country", "%q is not an ISO 3166 alpha-2 code", q.Get("country"))
		}
		req.Country = c
	}
	if v := q.Get("ip"); v != "" {
		if req.IP, err = netip.ParseAddr(v); err != nil {
			return badRequest("ip", "%q is not an IP address", v)
		}
	}
	if v := q.Get("at"); v != "" {
		if req.At, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return badRequest("at", "%q is not an RFC 3339 time such as 2026-11-27T12:00:00Z", v)
		}
	}
	for _, f := range []struct{ name, value string }{{"ua", req.UserAgent}, {"lang", req.AcceptLanguage}, {"query", req.RawQuery}} {
		if len(f.value) > 2048 || store.HasControl(f.value) {
			return badRequest(f.name, "must be at most 2048 bytes without control characters")
		}
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || store.HasControl(h) || len(h) > 2048 {
			return badRequest("header", "%q must be \"Name: value\"", h)
		}
		req.Headers = append(req.Headers, [2]string{name, value})
	}
	for _, c := range q["cookie"] {
		name, value, ok := strings.Cut(c, "=")
		if !ok || name == "" || store.HasControl(c) || len(c) > 2048 {
			return badRequest("cookie", "%q must be \"name=value\"", c)
		}
		req.Cookies = append(req.Cookies, [2]string{name, value})
	}
	if req.At.IsZero() {
		req.At = time.Now().UTC()
	}
	l, err := s.store.GetLink(r.Context(), domain, code)
	if err != nil {
		return err
	}
	res := s.cfg.Resolver.Resolve(l, req)
	if res.Reason == "variant" {
		total := 0
		for _, v := range l.Variants {
			total += v.Weight
		}
		for _, v := range l.Variants {
			res.Variants = append(res.Variants, VariantChance{Name: v.Name, Weight: v.Weight, Share: float64(v.Weight) / float64(total)})
		}
	}
	return writeJSON(w, http.StatusOK, res)
}
