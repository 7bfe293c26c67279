package api

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

// mustStartAPIWithPolicy is mustStartAPI with a destination policy: it
// denies evil.example and https://docs.google.com/forms/, and go.example
// (the public URL) and b.example are the service's own.
func mustStartAPIWithPolicy(t *testing.T) *env {
	t.Helper()
	deny, err := store.ParseDenyList([]string{"evil.example", "https://docs.google.com/forms/"})
	if err != nil {
		t.Fatal(err)
	}
	self := []store.SelfHost{}
	for _, h := range []struct{ host, source string }{{"go.example", "--public-url"}, {"b.example", "--short-domains"}} {
		sh, err := store.ParseSelfHost(h.host, h.source)
		if err != nil {
			t.Fatal(err)
		}
		self = append(self, sh)
	}
	return startAPI(t, apiOptions{edit: func(c *Config) {
		c.Policy = &store.DestinationPolicy{Deny: deny, SelfHosts: self, RefuseHTTP: true}
	}})
}

// wantFields checks a 422 problem names exactly the fields given, each
// message containing its text.
func wantFields(t *testing.T, p Problem, want map[string]string) {
	t.Helper()
	if p.Status != 422 || p.Code != store.EINVALID || len(p.Errors) != len(want) {
		t.Fatalf("problem %+v, want fields %v", p, want)
	}
	for _, fe := range p.Errors {
		if w, ok := want[fe.Field]; !ok || !strings.Contains(fe.Message, w) {
			t.Fatalf("field %s: %q, want ...%s...", fe.Field, fe.Message, w)
		}
	}
}

func TestPolicyCreate(t *testing.T) {
	e := mustStartAPIWithPolicy(t)
	p := e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://x.evil.example/"}`, nil, 422, nil).problem(t)
	wantFields(t, p, map[string]string{"destination": `host "x.evil.example" is denied by "evil.example" in --deny-destinations`})
	if !strings.Contains(p.Detail, `destination: host "x.evil.example" is denied`) {
		t.Fatalf("detail %q", p.Detail)
	}
	p = e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://ok.example/",
		"rules":[{"when":{"device":["ios"]},"destination":"https://ok.example/ios"},{"when":{"device":["android"]},"destination":"https://docs.google.com/forms/d/1"}],
		"variants":[{"destination":"https://go.example/other","weight":1},{"destination":"https://ok.example/b","weight":1}],
		"schedule":{"not_after":"2030-01-01T00:00:00Z","after_url":"http://ok.example/over"}}`, nil, 422, nil).problem(t)
	wantFields(t, p, map[string]string{
		"rules[1].destination":    `is denied by "https://docs.google.com/forms/" in --deny-destinations`,
		"variants[0].destination": `host "go.example" is in --public-url: it would redirect to this service itself: a redirect loop`,
		"schedule.after_url":      "--allow-http=false",
	})
	// Validation errors come first: a link that is invalid anyway is not
	// judged by the policy.
	p = e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://evil.example/","status":303}`, nil, 422, nil).problem(t)
	wantFields(t, p, map[string]string{"status": "must be one of"})
	e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://ok.example/"}`, nil, 201, nil)
}

func TestPolicyPatch(t *testing.T) {
	e := mustStartAPIWithPolicy(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://ok.example/"}`, nil, 201, nil)
	p := e.call("PATCH", "/api/v1/links/a", e.write, `{"destination":"https://b.example/loop"}`, nil, 422, nil).problem(t)
	wantFields(t, p, map[string]string{"destination": `host "b.example" is in --short-domains`})
	p = e.call("PATCH", "/api/v1/links/a", e.write, `{"rules":[{"when":{"country":["DE"]},"destination":"https://EVIL.example./de"}]}`, nil, 422, nil).problem(t)
	wantFields(t, p, map[string]string{"rules[0].destination": `host "evil.example" is denied by "evil.example"`})
	e.call("PATCH", "/api/v1/links/a", e.write, `{"destination":"https://ok.example/new"}`, nil, 200, nil)
}

func TestPolicyBulk(t *testing.T) {
	e := mustStartAPIWithPolicy(t)
	body := `[{"code":"ok1","destination":"https://ok.example/1"},
		{"code":"bad1","destination":"https://evil.example/1"},
		{"code":"bad2","destination":"https://ok.example/2","variants":[{"destination":"https://ok.example/a","weight":1},{"destination":"http://ok.example/b","weight":1}]}]`
	var b bulkBody
	e.call("POST", "/api/v1/links/bulk", e.write, body, nil, 422, &b)
	if b.Created != 0 || b.Failed != 2 || len(b.Results) != 2 || e.exists("ok1") {
		t.Fatalf("atomic: %+v", b)
	}
	if r := b.Results[0]; r.Index != 1 || r.Status != 422 || len(r.Errors) != 1 || r.Errors[0].Field != "destination" || !strings.Contains(r.Errors[0].Message, `denied by "evil.example"`) {
		t.Fatalf("result %+v", r)
	}
	if r := b.Results[1]; r.Index != 2 || len(r.Errors) != 1 || r.Errors[0].Field != "variants[1].destination" {
		t.Fatalf("result %+v", r)
	}
	b = bulkBody{}
	e.call("POST", "/api/v1/links/bulk?atomic=false", e.write, body, nil, 200, &b)
	if b.Created != 1 || b.Failed != 2 || !e.exists("ok1") || e.exists("bad1") {
		t.Fatalf("per item: %+v", b)
	}
}

func TestPolicyViolations(t *testing.T) {
	e := mustStartAPIWithPolicy(t)
	// Links stored before the policy changed: written to the store
	// directly, as they were under the old policy.
	ctx := context.Background()
	for _, l := range []*store.Link{
		{Code: "fine", Destination: "https://ok.example/"},
		{Code: "old", Domain: "d.example", Destination: "https://evil.example/", Rules: []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://b.example/x"}}},
	} {
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	var out struct {
		LinksAtFault int               `json:"links_at_fault"`
		Truncated    bool              `json:"truncated"`
		Violations   []store.Violation `json:"violations"`
	}
	e.call("GET", "/api/v1/policy/violations", e.admin, "", nil, 200, &out)
	if out.LinksAtFault != 1 || out.Truncated || len(out.Violations) != 2 {
		t.Fatalf("%+v", out)
	}
	v := out.Violations[1]
	if v.Code != "old" || v.Domain != "d.example" || v.Field != "rules[0].destination" || !strings.Contains(v.Detail, "--short-domains") {
		t.Fatalf("%+v", v)
	}
	// The links are listed, not changed.
	if _, err := e.db.GetLink(ctx, "d.example", "old"); err != nil {
		t.Fatal(err)
	}
	e.call("GET", "/api/v1/policy/violations", e.write, "", nil, 403, nil)
	e.call("GET", "/api/v1/policy/violations", "", "", nil, 401, nil)

	// Without a policy, nothing is at fault.
	url, admin := startOn(t, e.db)
	e2 := &env{t: t, url: url, admin: admin}
	out.Violations = nil
	e2.call("GET", "/api/v1/policy/violations", admin, "", nil, 200, &out)
	if out.LinksAtFault != 0 || len(out.Violations) != 0 {
		t.Fatalf("no policy: %+v", out)
	}
}

// TestPolicyHostSpellings creates, patches and bulk-creates links to the
// public URL http://127.0.0.1:18080 spelt in the ways browsers read the
// same: each is refused with 422 naming the field (a spelling other than
// dotted decimal is refused outright; the others are a redirect loop), as
// are host names browsers or DNS refuse.
func TestPolicyHostSpellings(t *testing.T) {
	self, err := store.ParseSelfHost("127.0.0.1:18080", "--public-url")
	if err != nil {
		t.Fatal(err)
	}
	e := startAPI(t, apiOptions{edit: func(c *Config) {
		c.RateLimit = -1
		c.Policy = &store.DestinationPolicy{SelfHosts: []store.SelfHost{self}}
	}})
	e.call("POST", "/api/v1/links", e.write, `{"code":"ok","destination":"https://ok.example/"}`, nil, 201, nil)
	for dest, want := range map[string]string{
		"http://127.1:18080/x":             "write 127.0.0.1",
		"http://0x7f.0.0.1:18080/":         "write 127.0.0.1",
		"http://2130706433:18080/":         "write 127.0.0.1",
		"http://127.000.000.001:18080/":    "write 127.0.0.1",
		"http://[::ffff:127.0.0.1]:18080/": "redirect loop",
		"http://127.0.0.1:018080/":         "redirect loop",
		"https://a..b/":                    "empty label",
		"https://-bad-.com/":               "must not start or end with '-'",
		"https://1.2.3.256/":               "not an IPv4 address",
	} {
		p := e.call("POST", "/api/v1/links", e.write, fmt.Sprintf(`{"code":"a","destination":%q}`, dest), nil, 422, nil).problem(t)
		wantFields(t, p, map[string]string{"destination": want})
		p = e.call("PATCH", "/api/v1/links/ok", e.write, fmt.Sprintf(`{"variants":[{"destination":"https://ok.example/","weight":1},{"destination":%q,"weight":1}]}`, dest), nil, 422, nil).problem(t)
		wantFields(t, p, map[string]string{"variants[1].destination": want})
		var b bulkBody
		e.call("POST", "/api/v1/links/bulk", e.write, fmt.Sprintf(`[{"code":"b1","destination":"https://ok.example/"},{"code":"b2","destination":%q}]`, dest), nil, 422, &b)
		if len(b.Results) != 1 || b.Results[0].Index != 1 || len(b.Results[0].Errors) != 1 || b.Results[0].Errors[0].Field != "destination" || !strings.Contains(b.Results[0].Errors[0].Message, want) {
			t.Fatalf("bulk %s: %+v", dest, b)
		}
	}
	if e.exists("a") || e.exists("b1") {
		t.Fatal("a refused destination was stored")
	}
}
