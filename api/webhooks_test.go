package api

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// webhookEnv is the API with webhooks served from its embedded store.
type webhookEnv struct {
	*env
	changes atomic.Int64 // calls of OnWebhookChange
	srv     *Server
}

// mustStartWebhookAPI starts the API with the webhook routes over the
// embedded store; edit changes the config after the tests' defaults.
func mustStartWebhookAPI(t *testing.T, edit func(*Config)) *webhookEnv {
	t.Helper()
	we := &webhookEnv{}
	var db *boltstore.DB
	we.env = startAPI(t, apiOptions{
		edit: func(c *Config) {
			c.RateLimit = -1
			c.OnWebhookChange = func() { we.changes.Add(1) }
			if edit != nil {
				edit(c)
			}
		},
		store: func(d *boltstore.DB) Store { db = d; return d },
		prepare: func(s *Server) {
			s.cfg.Webhooks, s.cfg.Deliveries = db, db
			we.srv = s
		},
	})
	return we
}

// publicHook is a destination the address policy lets through without a
// lookup: a literal public address.
const publicHook = "https://93.184.215.14/hook"

// apiWebhook is a webhook as the API returns it.
type apiWebhook struct {
	store.Webhook
}

func (we *webhookEnv) createWebhook(body string) apiWebhook {
	we.t.Helper()
	var h apiWebhook
	we.call("POST", "/api/v1/webhooks", we.admin, body, nil, 201, &h)
	return h
}

func TestWebhookCRUD(t *testing.T) {
	e := mustStartWebhookAPI(t, nil)
	var h apiWebhook
	r := e.call("POST", "/api/v1/webhooks", e.admin, `{"url":"`+publicHook+`","events":["scan","link.created","scan"],"tags":["tv"]}`, nil, 201, &h)
	if !strings.HasPrefix(h.ID, store.WebhookIDPrefix) || !strings.HasPrefix(h.Secret, "whsec_") || h.Version != 1 ||
		fmt.Sprint(h.Events) != "[link.created scan]" || h.CreatedAt.IsZero() {
		t.Fatalf("created %+v", h)
	}
	if r.header.Get("Location") != "/api/v1/webhooks/"+h.ID || r.header.Get("ETag") != `"1"` {
		t.Fatalf("headers %v", r.header)
	}
	if e.changes.Load() != 1 {
		t.Fatalf("OnWebhookChange called %d times, want 1", e.changes.Load())
	}
	// A secret given is kept, and shown once.
	given := e.createWebhook(`{"url":"` + publicHook + `","events":["link.deleted"],"secret":"0123456789abcdef-given"}`)
	if given.Secret != "0123456789abcdef-given" {
		t.Fatalf("created %+v", given)
	}

	// Nothing but the creation shows a secret.
	noSecret := func(r result) {
		t.Helper()
		if bytes.Contains(r.body, []byte(h.Secret)) || bytes.Contains(r.body, []byte(given.Secret)) || bytes.Contains(r.body, []byte(`"secret"`)) {
			t.Fatalf("answer shows a secret: %s", r.body)
		}
	}
	var list struct{ Webhooks []apiWebhook }
	r = e.call("GET", "/api/v1/webhooks", e.admin, "", nil, 200, &list)
	noSecret(r)
	if len(list.Webhooks) != 2 || list.Webhooks[0].ID != h.ID || list.Webhooks[1].ID != given.ID {
		t.Fatalf("list %+v", list)
	}
	var got apiWebhook
	r = e.call("GET", "/api/v1/webhooks/"+h.ID, e.admin, "", nil, 200, &got)
	noSecret(r)
	if got.URL != publicHook || r.header.Get("ETag") != `"1"` {
		t.Fatalf("got %+v, headers %v", got, r.header)
	}
	e.call("GET", "/api/v1/webhooks/wh_nope", e.admin, "", nil, 404, nil).problem(t)

	// PATCH: a merge patch; a new secret is stored but not shown.
	got = apiWebhook{}
	r = e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, `{"disabled":true,"tags":null,"secret":"a-new-secret-of-enough-bytes"}`, map[string]string{"If-Match": `"1"`}, 200, &got)
	noSecret(r)
	if !got.Disabled || got.Tags != nil || got.Version != 2 || r.header.Get("ETag") != `"2"` || fmt.Sprint(got.Events) != "[link.created scan]" {
		t.Fatalf("patched %+v, headers %v", got, r.header)
	}
	stored, err := e.db.GetWebhook(context.Background(), h.ID)
	if err != nil || stored.Secret != "a-new-secret-of-enough-bytes" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	// A patch without a secret keeps it.
	e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, `{"sample_rate":0.5}`, nil, 200, &got)
	if stored, _ = e.db.GetWebhook(context.Background(), h.ID); stored.Secret != "a-new-secret-of-enough-bytes" || stored.SampleRate != 0.5 {
		t.Fatalf("stored %+v", stored)
	}
	p := e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, `{"disabled":false}`, map[string]string{"If-Match": `"1"`}, 412, nil).problem(t)
	if p.Code != store.EPRECONDITION {
		t.Fatalf("problem %+v", p)
	}
	e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, `{"disabled":false}`, map[string]string{"If-Match": "seven"}, 400, nil).problem(t)
	e.call("PATCH", "/api/v1/webhooks/wh_nope", e.admin, `{"disabled":false}`, nil, 404, nil).problem(t)
	if n := e.changes.Load(); n != 4 {
		t.Fatalf("OnWebhookChange called %d times, want 4", n)
	}

	// DELETE honours If-Match.
	e.call("DELETE", "/api/v1/webhooks/"+h.ID, e.admin, "", map[string]string{"If-Match": `"2"`}, 412, nil).problem(t)
	e.call("DELETE", "/api/v1/webhooks/"+h.ID, e.admin, "", map[string]string{"If-Match": `W/"x"`}, 400, nil).problem(t)
	e.call("DELETE", "/api/v1/webhooks/"+h.ID, e.admin, "", map[string]string{"If-Match": `"3"`}, 204, nil)
	e.call("DELETE", "/api/v1/webhooks/"+h.ID, e.admin, "", nil, 404, nil).problem(t)
	e.call("GET", "/api/v1/webhooks/"+h.ID, e.admin, "", nil, 404, nil).problem(t)
	e.call("DELETE", "/api/v1/webhooks/"+given.ID, e.admin, "", nil, 204, nil)
	if n := e.changes.Load(); n != 6 {
		t.Fatalf("OnWebhookChange called %d times, want 6", n)
	}
}

func TestWebhookInputErrors(t *testing.T) {
	e := mustStartWebhookAPI(t, nil)
	h := e.createWebhook(`{"url":"` + publicHook + `","events":["scan"]}`)
	field := func(method, path, body string, want int, field string) {
		t.Helper()
		p := e.call(method, path, e.admin, body, nil, want, nil).problem(t)
		for _, fe := range p.Errors {
			if fe.Field == field {
				return
			}
		}
		t.Fatalf("%s %s %s: problem %+v does not name %q", method, path, body, p, field)
	}
	for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/" + h.ID} {
		method := "POST"
		if path != "/api/v1/webhooks" {
			method = "PATCH"
		}
		field(method, path, `{"url":"`+publicHook+`","events":["scan"],"extra":1}`, 400, "extra")
		at := testclock.Date(2026, 1, 1, 0, 0, 0).Format(time.RFC3339)
		for _, ro := range []string{`"id":"wh_x"`, `"version":3`, `"created_at":"` + at + `"`, `"updated_at":"` + at + `"`} {
			name := strings.Trim(strings.SplitN(ro, ":", 2)[0], `"`)
			field(method, path, `{"url":"`+publicHook+`","events":["scan"],`+ro+`}`, 400, name)
		}
		field(method, path, `{"url":"`+publicHook+`","events":"scan"}`, 400, "events")
		e.call(method, path, e.admin, `["scan"]`, nil, 400, nil).problem(t)
		e.call(method, path, e.admin, `{`, nil, 400, nil).problem(t)
		field(method, path, `{"url":"ftp://example.com/","events":["scan"]}`, 422, "url")
		field(method, path, `{"url":"`+publicHook+`","events":["scan","click"]}`, 422, "events[1]")
		field(method, path, `{"url":"`+publicHook+`","events":["scan"],"sample_rate":2}`, 422, "sample_rate")
		field(method, path, `{"url":"`+publicHook+`","events":["scan"],"secret":"short"}`, 422, "secret")
		field(method, path, `{"url":"`+publicHook+`","events":["scan"],"codes":["bad code"]}`, 422, "codes[0]")
		big := `{"url":"` + publicHook + `","events":["scan"],"tags":["` + strings.Repeat("a", 1<<20) + `"]}`
		e.call(method, path, e.admin, big, nil, 413, nil).problem(t)
	}
	field("POST", "/api/v1/webhooks", `{"url":"`+publicHook+`"}`, 422, "events")
	field("PATCH", "/api/v1/webhooks/"+h.ID, `{"events":null}`, 422, "events")
	field("PATCH", "/api/v1/webhooks/"+h.ID, `{"secret":null}`, 422, "secret")
	// Nothing was changed.
	if got, _ := e.db.GetWebhook(context.Background(), h.ID); got.Version != 1 {
		t.Fatalf("webhook changed: %+v", got)
	}
	if n := e.changes.Load(); n != 1 {
		t.Fatalf("OnWebhookChange called %d times, want 1", n)
	}
}

// privateResolver resolves every name to a private address.
type privateResolver struct{}

func (privateResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
}

// slowResolver answers when its context ends.
type slowResolver struct{}

func (slowResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestWebhookAddressPolicy(t *testing.T) {
	e := mustStartWebhookAPI(t, nil)
	e.srv.webhookResolver = privateResolver{}
	refused := func(method, path, body string) {
		t.Helper()
		p := e.call(method, path, e.admin, body, nil, 422, nil).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "url" || !strings.Contains(p.Errors[0].Message, "--webhook-allow-private") {
			t.Fatalf("%s %s: problem %+v", method, body, p)
		}
	}
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://localhost:8080/", "http://10.0.0.1/", "http://169.254.169.254/latest", "http://[::1]/", "http://[fe80::1]/", "https://hooks.example.com/"} {
		refused("POST", "/api/v1/webhooks", `{"url":"`+u+`","events":["scan"]}`)
	}
	// A change of destination is judged again, and so is a webhook
	// switched on again.
	h := e.createWebhook(`{"url":"` + publicHook + `","events":["scan"],"disabled":true}`)
	refused("PATCH", "/api/v1/webhooks/"+h.ID, `{"url":"http://192.168.1.1/"}`)
	e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, `{"disabled":false}`, nil, 200, nil)

	// A lookup that takes too long refuses the URL.
	e.srv.webhookResolver, e.srv.webhookLookup = slowResolver{}, 10*time.Millisecond
	p := e.call("POST", "/api/v1/webhooks", e.admin, `{"url":"https://slow.example.com/","events":["scan"]}`, nil, 422, nil).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "url" || !strings.Contains(p.Errors[0].Message, "longer than 10ms") {
		t.Fatalf("problem %+v", p)
	}

	// The operator may allow private destinations.
	open := mustStartWebhookAPI(t, func(c *Config) { c.WebhookAllowPrivate = true })
	open.srv.webhookResolver = privateResolver{}
	h = open.createWebhook(`{"url":"http://127.0.0.1:9/hook","events":["scan"]}`)
	open.call("PATCH", "/api/v1/webhooks/"+h.ID, open.admin, `{"url":"https://hooks.example.com/"}`, nil, 200, nil)
}

func TestWebhookDeadLettersAndAttempts(t *testing.T) {
	e := mustStartWebhookAPI(t, nil)
	ctx := context.Background()
	h := e.createWebhook(`{"url":"` + publicHook + `","events":["scan"]}`)
	other := e.createWebhook(`{"url":"` + publicHook + `","events":["scan"]}`)
	base := testclock.Date(2026, 3, 1, 12, 0, 0)
	for i := 1; i <= 3; i++ {
		d := store.DeadLetter{
			OutboxBatch: store.OutboxBatch{ID: fmt.Sprintf("dl%d", i), WebhookID: h.ID, Type: store.EventScan, Body: []byte(`{"events":[]}`), Events: i, FirstAt: base},
			Reason:      store.DeadGaveUp, LastError: "503 Service Unavailable", Attempts: 9, DeadAt: base.Add(time.Duration(i) * time.Minute),
		}
		if _, err := e.db.AddDeadLetter(ctx, d, store.DefaultDeliveryLimits()); err != nil {
			t.Fatal(err)
		}
	}
	var page store.DeadLetterPage
	e.call("GET", "/api/v1/webhooks/"+h.ID+"/dead-letters?limit=2", e.admin, "", nil, 200, &page)
	if len(page.DeadLetters) != 2 || page.DeadLetters[0].ID != "dl3" || page.DeadLetters[1].ID != "dl2" || page.NextCursor == "" ||
		page.DeadLetters[0].Reason != store.DeadGaveUp || page.DeadLetters[0].Attempts != 9 {
		t.Fatalf("page %+v", page)
	}
	var rest store.DeadLetterPage
	e.call("GET", "/api/v1/webhooks/"+h.ID+"/dead-letters?limit=2&cursor="+page.NextCursor, e.admin, "", nil, 200, &rest)
	if len(rest.DeadLetters) != 1 || rest.DeadLetters[0].ID != "dl1" || rest.NextCursor != "" {
		t.Fatalf("page %+v", rest)
	}
	r := e.call("GET", "/api/v1/webhooks/"+other.ID+"/dead-letters", e.admin, "", nil, 200, nil)
	if !bytes.Contains(r.body, []byte(`"dead_letters":[]`)) {
		t.Fatalf("empty page %s", r.body)
	}
	p := e.call("GET", "/api/v1/webhooks/"+h.ID+"/dead-letters?cursor=nope", e.admin, "", nil, 400, nil).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
		t.Fatalf("problem %+v", p)
	}
	e.call("GET", "/api/v1/webhooks/"+h.ID+"/dead-letters?limit=0", e.admin, "", nil, 400, nil).problem(t)
	e.call("GET", "/api/v1/webhooks/wh_nope/dead-letters", e.admin, "", nil, 404, nil).problem(t)

	// Redelivery moves a dead letter back to the outbox, with its id.
	changes := e.changes.Load()
	var b store.OutboxBatch
	before := time.Now().Add(-time.Second) // the redelivery is queued on the real clock
	e.call("POST", "/api/v1/webhooks/"+h.ID+"/dead-letters/dl2/redeliver", e.admin, "", nil, 202, &b)
	if b.ID != "dl2" || b.WebhookID != h.ID || b.Events != 2 || b.FirstAt.Before(before) {
		t.Fatalf("redelivered %+v", b)
	}
	if e.changes.Load() != changes+1 {
		t.Fatal("redelivery did not call OnWebhookChange")
	}
	out, err := e.db.Peek(ctx, h.ID, 10)
	if err != nil || len(out) != 1 || out[0].ID != "dl2" || string(out[0].Body) != `{"events":[]}` {
		t.Fatalf("outbox %+v, %v", out, err)
	}
	e.call("POST", "/api/v1/webhooks/"+h.ID+"/dead-letters/dl2/redeliver", e.admin, "", nil, 404, nil).problem(t)
	e.call("POST", "/api/v1/webhooks/"+other.ID+"/dead-letters/dl1/redeliver", e.admin, "", nil, 404, nil).problem(t)
	e.call("POST", "/api/v1/webhooks/wh_nope/dead-letters/dl1/redeliver", e.admin, "", nil, 404, nil).problem(t)

	// Discarding removes one.
	e.call("DELETE", "/api/v1/webhooks/"+h.ID+"/dead-letters/dl1", e.admin, "", nil, 204, nil)
	if e.changes.Load() != changes+2 {
		t.Fatal("discarding did not call OnWebhookChange")
	}
	e.call("DELETE", "/api/v1/webhooks/"+h.ID+"/dead-letters/dl1", e.admin, "", nil, 404, nil).problem(t)
	e.call("DELETE", "/api/v1/webhooks/wh_nope/dead-letters/dl3", e.admin, "", nil, 404, nil).problem(t)
	e.call("GET", "/api/v1/webhooks/"+h.ID+"/dead-letters", e.admin, "", nil, 200, &page)
	if len(page.DeadLetters) != 1 || page.DeadLetters[0].ID != "dl3" {
		t.Fatalf("page %+v", page)
	}

	// Attempts, newest first.
	var attempts struct{ Attempts []store.Attempt }
	r = e.call("GET", "/api/v1/webhooks/"+h.ID+"/attempts", e.admin, "", nil, 200, &attempts)
	if len(attempts.Attempts) != 0 || !bytes.Contains(r.body, []byte(`"attempts":[]`)) {
		t.Fatalf("attempts %s", r.body)
	}
	for i := 0; i < 3; i++ {
		a := store.Attempt{At: base.Add(time.Duration(i) * time.Second), DeliveryID: fmt.Sprintf("d%d", i), Status: 500 + i, Latency: time.Millisecond}
		if err := e.db.AddAttempt(ctx, h.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	e.call("GET", "/api/v1/webhooks/"+h.ID+"/attempts", e.admin, "", nil, 200, &attempts)
	if len(attempts.Attempts) != 3 || attempts.Attempts[0].DeliveryID != "d2" || attempts.Attempts[2].DeliveryID != "d0" || attempts.Attempts[0].Latency != time.Millisecond {
		t.Fatalf("attempts %+v", attempts)
	}
	e.call("GET", "/api/v1/webhooks/wh_nope/attempts", e.admin, "", nil, 404, nil).problem(t)
}

// TestWebhookScopes: every webhook route is admin only.
func TestWebhookScopes(t *testing.T) {
	e := mustStartWebhookAPI(t, nil)
	h := e.createWebhook(`{"url":"` + publicHook + `","events":["scan"]}`)
	body := `{"url":"` + publicHook + `","events":["scan"]}`
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/webhooks", body},
		{"GET", "/api/v1/webhooks", ""},
		{"GET", "/api/v1/webhooks/" + h.ID, ""},
		{"PATCH", "/api/v1/webhooks/" + h.ID, `{"disabled":true}`},
		{"DELETE", "/api/v1/webhooks/" + h.ID, ""},
		{"GET", "/api/v1/webhooks/" + h.ID + "/dead-letters", ""},
		{"POST", "/api/v1/webhooks/" + h.ID + "/dead-letters/x/redeliver", ""},
		{"DELETE", "/api/v1/webhooks/" + h.ID + "/dead-letters/x", ""},
		{"GET", "/api/v1/webhooks/" + h.ID + "/attempts", ""},
	} {
		e.call(rt.method, rt.path, e.write, rt.body, nil, 403, nil).problem(t)
		e.call(rt.method, rt.path, e.read, rt.body, nil, 403, nil).problem(t)
		e.call(rt.method, rt.path, "", rt.body, nil, 401, nil).problem(t)
	}
	if got, err := e.db.GetWebhook(context.Background(), h.ID); err != nil || got.Version != 1 {
		t.Fatalf("webhook %+v, %v", got, err)
	}
}

// TestWebhooksAbsent: without webhook stores every route answers 404.
func TestWebhooksAbsent(t *testing.T) {
	e := mustStartAPI(t)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/webhooks", `{"url":"` + publicHook + `","events":["scan"]}`},
		{"GET", "/api/v1/webhooks", ""},
		{"GET", "/api/v1/webhooks/wh_x", ""},
		{"PATCH", "/api/v1/webhooks/wh_x", `{"disabled":true}`},
		{"DELETE", "/api/v1/webhooks/wh_x", ""},
		{"GET", "/api/v1/webhooks/wh_x/dead-letters", ""},
		{"POST", "/api/v1/webhooks/wh_x/dead-letters/x/redeliver", ""},
		{"DELETE", "/api/v1/webhooks/wh_x/dead-letters/x", ""},
		{"GET", "/api/v1/webhooks/wh_x/attempts", ""},
	} {
		p := e.call(rt.method, rt.path, e.admin, rt.body, nil, 404, nil).problem(t)
		if p.Detail != "this deployment has no webhooks" {
			t.Fatalf("%s %s: problem %+v", rt.method, rt.path, p)
		}
	}
}
