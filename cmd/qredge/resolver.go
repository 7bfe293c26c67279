package main

import (
	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/redirect"
	"github.com/qredge/qredge/store"
)

// resolver adapts the hot path's Explain to the API's Resolver, so the
// API never imports the hot path.
type resolver struct{ h *redirect.Handler }

func (r resolver) Resolve(l *store.Link, req api.ResolveRequest) api.Resolution {
	ex := r.h.Explain(l, redirect.ExplainInput{
		UserAgent: req.UserAgent, AcceptLanguage: req.AcceptLanguage, Country: req.Country, IP: req.IP,
		At: req.At, RawQuery: req.RawQuery, Headers: req.Headers, Cookies: req.Cookies,
	})
	res := api.Resolution{
		Status: ex.Status, Location: ex.Location, Reason: ex.Reason, Variant: ex.Variant, SetCookie: ex.SetCookie,
		Cache:   ex.Cache,
		Visitor: api.ResolvedVisitor{Device: ex.Device, Bot: ex.Bot, Country: ex.Country, Lang: ex.Lang},
		At:      req.At,
	}
	if ex.Rule >= 0 {
		rule := ex.Rule
		res.Rule = &rule
	}
	return res
}
