package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

func openBolt(t *testing.T) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// routed sums, per webhook, the events of batches and names their event
// sequence numbers (scans) or ids (link events) in order.
func routed(t *testing.T, bs []store.OutboxBatch) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range bs {
		var d Delivery
		if err := json.Unmarshal(b.Body, &d); err != nil {
			t.Fatal(err)
		}
		if d.ID != b.ID || d.WebhookID != b.WebhookID || d.Type != b.Type || len(d.Events) != b.Events {
			t.Fatalf("batch %+v has the body %s", b, b.Body)
		}
		var ids []string
		for _, raw := range d.Events {
			var e struct{ ID string }
			json.Unmarshal(raw, &e)
			if d.Type == store.EventScan {
				ids = append(ids, fmt.Sprint(seqOf(t, e.ID)))
			} else {
				ids = append(ids, e.ID)
			}
		}
		out[b.WebhookID] += b.Type + "[" + strings.Join(ids, " ") + "]"
	}
	return out
}

func TestRouterScans(t *testing.T) {
	db := openBolt(t)
	all := createHook(t, db, "https://a.example/", nil)
	codes := createHook(t, db, "https://b.example/", func(w *store.Webhook) { w.Codes = []string{"c2"} })
	tagged := createHook(t, db, "https://c.example/", func(w *store.Webhook) { w.Tags = []string{"print", "tv"} })
	links := createHook(t, db, "https://d.example/", func(w *store.Webhook) { w.Events = []string{store.EventLinkCreated} })
	off := createHook(t, db, "https://e.example/", func(w *store.Webhook) { w.Disabled = true })
	cfg := testConfig()
	cfg.MaxEvents = 2
	r := NewRouter(cfg, db, func(domain, code string) []string {
		if code == "c3" {
			return []string{"tv", "a"} // unsorted on purpose
		}
		return nil
	}, quiet())
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var events []analytics.Decoded
	for i, code := range []string{"c1", "c2", "c3", "c2", "c3", "c1"} {
		events = append(events, scans(i, 1, code)...)
	}
	bs := r.Scans("src/0/5", events)
	got := routed(t, bs)
	want := map[string]string{all.ID: "scan[0 1]scan[2 3]scan[4 5]", codes.ID: "scan[1 3]", tagged.ID: "scan[2 4]"}
	if fmt.Sprint(got) != fmt.Sprint(want) || got[links.ID] != "" || got[off.ID] != "" {
		t.Fatalf("routed %v, want %v", got, want)
	}
	// Batch ids come from the position and the webhook: routing again
	// gives the same ones, another position others.
	again := r.Scans("src/0/5", events)
	other := r.Scans("src/0/6", events)
	ids := map[string]bool{}
	for i := range bs {
		if again[i].ID != bs[i].ID || other[i].ID == bs[i].ID || ids[bs[i].ID] || !strings.HasPrefix(bs[i].ID, "dlv_") {
			t.Fatalf("batch %d: ids %s, %s, %s", i, bs[i].ID, again[i].ID, other[i].ID)
		}
		ids[bs[i].ID] = true
	}
	// Without a tags function, tag-filtered webhooks get no scans.
	r = NewRouter(cfg, db, nil, quiet())
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := routed(t, r.Scans("k", events)); got[tagged.ID] != "" || got[all.ID] == "" {
		t.Fatalf("without tags: %v", got)
	}
}

func TestScanEventJSON(t *testing.T) {
	d := scans(7, 1, "spring")[0]
	d.Domain, d.Target, d.Rule, d.Variant, d.Bot, d.ReferrerHost, d.Lang = "go.example", analytics.TargetRule, 2, "", true, "news.example", "de"
	d.LinkCreated = testclock.Date(2026, 1, 2, 3, 4, 5).UnixNano()
	b, err := json.Marshal(NewScanEvent(&d))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"id":"00000000000000000000000000000007","time":%q,"code":"spring","domain":"go.example","link_version":3,`+
		`"link_created_at":%q,"target":"rule","rule":2,"status":302,"source":"qr","country":"DE","device":"ios","bot":true,`+
		`"referrer":"news.example","lang":"de","visitor":"0000000000000008"}`,
		time.Unix(0, d.Time).UTC().Format(time.RFC3339Nano), time.Unix(0, d.LinkCreated).UTC().Format(time.RFC3339Nano))
	if string(b) != want {
		t.Fatalf("scan event\n%s\nwant\n%s", b, want)
	}
	d.RuleName = "ios"
	if b, _ := json.Marshal(NewScanEvent(&d)); !strings.Contains(string(b), `"rule":2,"rule_name":"ios",`) {
		t.Fatalf("named rule: %s", b)
	}
	d.Target = analytics.TargetScanLimit
	if b, _ := json.Marshal(NewScanEvent(&d)); !strings.Contains(string(b), `"target":"scan_limit",`) {
		t.Fatalf("past the limit: %s", b)
	}
}

// TestLinkEventRedacted: link events never carry a password hash.
func TestLinkEventRedacted(t *testing.T) {
	l := &store.Link{Code: "vip", Destination: "https://example.com/", PasswordHash: store.HashPassword("open sesame")}
	b, err := json.Marshal(NewLinkEvent(&store.Change{Op: store.OpPut, Link: l, Version: 4}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "argon2id") || strings.Contains(string(b), "password_hash") || l.PasswordHash == "" {
		t.Fatalf("link event %s", b)
	}
}

func TestSampled(t *testing.T) {
	in := 0
	for _, d := range scans(0, 10000, "c") {
		s := Sampled(d.ID, 0.1)
		if s != Sampled(d.ID, 0.1) {
			t.Fatal("sampling is not deterministic")
		}
		if s {
			in++
			if !Sampled(d.ID, 0.5) {
				t.Fatal("a scan sampled at 10% is not sampled at 50%")
			}
		}
		if !Sampled(d.ID, 0) || !Sampled(d.ID, 1) {
			t.Fatal("rates 0 and 1 must take every scan")
		}
	}
	// A fixed set of ids: the count is the same on every run.
	if in < 900 || in > 1100 {
		t.Fatalf("%d of 10000 scans sampled at 10%%", in)
	}
}

func TestRouterChanges(t *testing.T) {
	db := openBolt(t)
	created := testclock.Date(2026, 2, 1, 9, 0, 0)
	link := func(code string, v uint64, updated time.Duration, tags ...string) *store.Link {
		return &store.Link{Code: code, Destination: "https://x.example/", Status: 302, Tags: tags, CreatedAt: created,
			UpdatedAt: created.Add(updated), Version: v}
	}
	changes := []store.Change{
		{Op: store.OpPut, Link: link("a", 1, 0, "tv"), Version: 1},
		{Op: store.OpPut, Link: link("b", 2, 0), Version: 2},
		{Op: store.OpPut, Link: link("a", 3, time.Minute, "tv"), Version: 3},
		{Op: store.OpPut, Link: link("a", 4, 2*time.Minute, "tv"), Version: 4},
		{Op: store.OpDelete, Link: link("a", 4, 2*time.Minute, "tv"), Version: 5},
	}
	every := createHook(t, db, "https://a.example/", func(w *store.Webhook) {
		w.Events = []string{store.EventLinkCreated, store.EventLinkUpdated, store.EventLinkDeleted, store.EventScan}
	})
	tv := createHook(t, db, "https://b.example/", func(w *store.Webhook) {
		w.Events, w.Tags = []string{store.EventLinkCreated, store.EventLinkDeleted}, []string{"tv"}
	})
	scansOnly := createHook(t, db, "https://c.example/", nil)
	cfg := testConfig()
	r := NewRouter(cfg, db, nil, quiet())
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	bs := r.Changes("links/0/5", changes)
	got := routed(t, bs)
	want := map[string]string{
		every.ID: "link.created[link-1 link-2]link.updated[link-3 link-4]link.deleted[link-5]",
		tv.ID:    "link.created[link-1]link.deleted[link-5]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || got[scansOnly.ID] != "" {
		t.Fatalf("routed %v, want %v", got, want)
	}
	var d Delivery
	json.Unmarshal(bs[0].Body, &d)
	var e LinkEvent
	if err := json.Unmarshal(d.Events[0], &e); err != nil || e.Type != store.EventLinkCreated || e.Link.Code != "a" ||
		e.Time != created.Format(time.RFC3339Nano) || e.Link.Tags[0] != "tv" {
		t.Fatalf("link event %s: %+v %v", d.Events[0], e, err)
	}
}

// The Applier reads the webhook list again once it is Config.Refresh old:
// a webhook created while events flow gets them from then on.
func TestApplierSeesNewWebhooks(t *testing.T) {
	db := openBolt(t)
	cfg := testConfig()
	a := NewApplier(cfg, NewRouter(cfg, db, nil, quiet()), db, NewMetrics(cfg.MetricWebhooks), quiet())
	if err := a.ApplyScans(ctx, "test", 0, -1, 0, scans(0, 1, "c1")); err != nil {
		t.Fatal(err)
	}
	w := createHook(t, db, "https://a.example/", nil)
	last := int64(0)
	testwait.For(t, 10*time.Second, "events queued for the new webhook", func() bool {
		if err := a.ApplyScans(ctx, "test", 0, last, last+1, scans(int(last)+1, 1, "c1")); err != nil {
			t.Fatal(err)
		}
		last++
		n, err := db.OutboxLen(ctx, w.ID)
		return err == nil && n > 0
	})
	if bs, _ := db.Peek(ctx, w.ID, 10); len(bs) != 1 || !strings.Contains(string(bs[0].Body), fmt.Sprintf(`"id":"%032x"`, last)) {
		t.Fatalf("outbox %v, want the last scan only", bs)
	}
}
