package api

import (
	"strings"
	"testing"
)

// TestJSONFieldPaths checks that every body the API reads names what it
// refuses by its full path, indexes included, in detail and in errors,
// and refuses keys that only match a field when case is ignored, keys
// given twice and keys that match nothing.
func TestJSONFieldPaths(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"p","destination":"https://example.com/"}`, nil, 201, nil)
	two := func(second string) string {
		return `{"destination":"https://example.com/","variants":[{"destination":"https://a.example/","weight":1},` + second + `]}`
	}
	rule := func(when string) string {
		return `{"destination":"https://example.com/","rules":[{"when":` + when + `,"destination":"https://a.example/"}]}`
	}
	tests := []struct {
		name, method, path, body string
		field, detail            string
	}{
		{"fractional weight", "POST", "/api/v1/links", two(`{"destination":"https://b.example/","weight":1.5}`), "variants[1].weight", "must be a whole number, got 1.5"},
		{"weight as string", "POST", "/api/v1/links", two(`{"destination":"https://b.example/","weight":"2"}`), "variants[1].weight", "must be a number, got a string"},
		{"bad time", "POST", "/api/v1/links", `{"destination":"https://example.com/","schedule":{"not_before":"tomorrow"}}`, "schedule.not_before", `must be an RFC 3339 time such as 2026-11-27T12:00:00Z, got "tomorrow"`},
		{"time as number", "POST", "/api/v1/links", `{"destination":"https://example.com/","schedule":{"not_after":1700000000}}`, "schedule.not_after", "must be an RFC 3339 time"},
		{"device entry", "POST", "/api/v1/links", rule(`{"device":["ios","android",3]}`), "rules[0].when.device[2]", "must be a string, got a number"},
		{"query value", "POST", "/api/v1/links", rule(`{"query":{"src":true}}`), `rules[0].when.query["src"]`, "must be a string, got a boolean"},
		{"status overflow", "POST", "/api/v1/links", `{"destination":"https://example.com/","status":1e99}`, "status", "must be a whole number"},
		{"unknown nested", "POST", "/api/v1/links", rule(`{"os":["ios"]}`), "rules[0].when.os", "unknown field"},
		{"case variant", "POST", "/api/v1/links", `{"destination":"https://a.example/","Destination":"https://b.example/"}`, "Destination", `unknown field: keys are case-sensitive: did you mean "destination"?`},
		{"case variant alone", "POST", "/api/v1/links", `{"DESTINATION":"https://b.example/"}`, "DESTINATION", `did you mean "destination"?`},
		{"nested case variant", "POST", "/api/v1/links", `{"destination":"https://example.com/","rules":[{"When":{"device":["ios"]},"destination":"https://a.example/"}]}`, "rules[0].When", `did you mean "when"?`},
		{"twice", "POST", "/api/v1/links", `{"destination":"https://a.example/","destination":"https://b.example/"}`, "destination", "given twice"},
		{"odd key", "POST", "/api/v1/links", `{"destination":"https://a.example/","a b":1}`, `["a b"]`, "unknown field"},
		{"patch case variant", "PATCH", "/api/v1/links/p", `{"Destination":"https://b.example/"}`, "Destination", `did you mean "destination"?`},
		{"patch weight", "PATCH", "/api/v1/links/p", `{"variants":[{"destination":"https://a.example/","weight":1},{"destination":"https://b.example/","weight":0.5}]}`, "variants[1].weight", "must be a whole number"},
		{"patch time", "PATCH", "/api/v1/links/p", `{"schedule":{"not_before":"soon"}}`, "schedule.not_before", "RFC 3339"},
		{"patch twice", "PATCH", "/api/v1/links/p", `{"tags":["a"],"tags":["b"]}`, "tags", "given twice"},
		{"key case variant", "POST", "/api/v1/keys", `{"name":"x","scope":"read","Scope":"admin"}`, "Scope", `did you mean "scope"?`},
		{"key type", "POST", "/api/v1/keys", `{"name":["x"],"scope":"read"}`, "name", "must be a string, got an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			p := e.call(tt.method, tt.path, e.admin, tt.body, nil, 400, nil).problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != tt.field || !strings.Contains(p.Errors[0].Message, tt.detail) {
				t.Fatalf("errors %+v, want field %q with %q", p.Errors, tt.field, tt.detail)
			}
			if !strings.Contains(p.Detail, tt.field+": "+p.Errors[0].Message) {
				t.Fatalf("detail %q does not name %s", p.Detail, tt.field)
			}
		})
	}
	// Every problem is named in one answer.
	p := e.call("POST", "/api/v1/links", e.write, `{"Code":"x","destination":"https://a.example/","status":"302","tags":["a",1]}`, nil, 400, nil).problem(t)
	var fields []string
	for _, fe := range p.Errors {
		fields = append(fields, fe.Field)
	}
	if strings.Join(fields, " ") != "Code status tags[1]" {
		t.Fatalf("fields %v, want Code status tags[1]", fields)
	}
	// A bulk item is judged as POST /api/v1/links judges its body.
	var b bulkBody
	e.call("POST", "/api/v1/links/bulk?atomic=false", e.write, `[{"code":"b1","destination":"https://a.example/"},{"code":"b2","Destination":"https://a.example/"}]`, nil, 200, &b)
	if r := b.Results[1]; r.Status != 400 || len(r.Errors) != 1 || r.Errors[0].Field != "Destination" || e.exists("b2") {
		t.Fatalf("bulk: %+v", b.Results)
	}
	l, err := e.db.GetLink(t.Context(), "", "p")
	if err != nil || l.Destination != "https://example.com/" || l.Tags != nil || l.Schedule != nil || l.Variants != nil {
		t.Fatalf("a refused PATCH changed the link: %+v %v", l, err)
	}
}
