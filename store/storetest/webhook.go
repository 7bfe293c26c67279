package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
)

// WebhookStore is what a backend that keeps webhooks must implement.
type WebhookStore interface {
	store.WebhookStore
	store.DeliveryStore
}

// RunWebhooks runs the webhook suite. newStore must return an empty store
// and arrange for it to be closed with t.Cleanup.
func RunWebhooks(t *testing.T, newStore func(t *testing.T) WebhookStore) {
	runSuite(t, newStore, []suiteTest[WebhookStore]{
		{"CRUD", testWebhookCRUD},
		{"ConcurrentUpdates", testWebhookConcurrentUpdates},
		{"EnqueueOffsets", testEnqueueOffsets},
		{"OutboxOrderAck", testOutboxOrderAck},
		{"OutboxOverflow", testOutboxOverflow},
		{"DeadLetters", testDeadLetters},
		{"Lease", testLease},
		{"Attempts", testAttempts},
		{"DeleteCascades", testWebhookDeleteCascades},
	})
}

func hook(url string) *store.Webhook {
	w := &store.Webhook{URL: url, Secret: "0123456789abcdef", Events: []string{store.EventScan, store.EventLinkCreated}}
	if err := store.ValidateWebhook(w); err != nil {
		panic(fmt.Sprintf("BUG: test webhook invalid: %v", err))
	}
	return w
}

func mustCreateHook(t *testing.T, s WebhookStore, url string) *store.Webhook {
	t.Helper()
	w, err := s.CreateWebhook(ctx, hook(url))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// at is the fixed time of the suite's batches: stores keep it, and never
// compare it with their clock.
var at = testclock.Date(2026, 3, 1, 12, 0, 0)

func batch(webhookID, id string) store.OutboxBatch {
	return store.OutboxBatch{ID: id, WebhookID: webhookID, Type: store.EventScan,
		Body: []byte(`{"id":"` + id + `","events":[{"n":1}]}`), Events: 1, FirstAt: at}
}

func batches(webhookID string, ids ...string) []store.OutboxBatch {
	out := make([]store.OutboxBatch, len(ids))
	for i, id := range ids {
		out[i] = batch(webhookID, id)
	}
	return out
}

func peekIDs(t *testing.T, s WebhookStore, webhookID string, n int) string {
	t.Helper()
	bs, err := s.Peek(ctx, webhookID, n)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return strings.Join(ids, ",")
}

func testWebhookCRUD(t *testing.T, s WebhookStore) {
	list, err := s.ListWebhooks(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("empty store lists %v, %v", list, err)
	}
	in := hook("https://a.example/hook")
	in.Codes, in.Tags, in.SampleRate = []string{"c1"}, []string{"tv"}, 0.25
	a, err := s.CreateWebhook(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, store.WebhookIDPrefix) || a.Version != 1 || a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("created %+v", a)
	}
	b := mustCreateHook(t, s, "https://b.example/hook")
	if b.ID == a.ID {
		t.Fatal("two webhooks with one ID")
	}
	got, err := s.GetWebhook(ctx, a.ID)
	if err != nil || got.URL != in.URL || got.Secret != in.Secret || fmt.Sprint(got.Events, got.Codes, got.Tags) != "[link.created scan] [c1] [tv]" ||
		got.SampleRate != 0.25 || got.Version != 1 || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("GetWebhook = %+v, %v", got, err)
	}
	_, err = s.GetWebhook(ctx, "wh_missing")
	wantCode(t, err, store.ENOTFOUND)

	next := got.Clone()
	next.URL, next.Disabled = "https://a.example/v2", true
	up, err := s.UpdateWebhook(ctx, next, 1)
	if err != nil || up.Version != 2 || up.URL != next.URL || !up.Disabled || !up.CreatedAt.Equal(a.CreatedAt) || up.UpdatedAt.Before(a.UpdatedAt) {
		t.Fatalf("UpdateWebhook = %+v, %v", up, err)
	}
	stale := got.Clone()
	stale.URL = "https://a.example/stale"
	_, err = s.UpdateWebhook(ctx, stale, 1)
	wantCode(t, err, store.EPRECONDITION)
	if back, _ := s.GetWebhook(ctx, a.ID); back.URL != next.URL || back.Version != 2 {
		t.Fatalf("a stale update changed the webhook: %+v", back)
	}
	if up, err = s.UpdateWebhook(ctx, stale, 0); err != nil || up.Version != 3 || up.URL != stale.URL {
		t.Fatalf("unconditional update = %+v, %v", up, err)
	}
	missing := stale.Clone()
	missing.ID = "wh_missing"
	_, err = s.UpdateWebhook(ctx, missing, 0)
	wantCode(t, err, store.ENOTFOUND)

	list, err = s.ListWebhooks(ctx)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListWebhooks = %v, %v", list, err)
	}
	if err := s.DeleteWebhook(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteWebhook(ctx, a.ID), store.ENOTFOUND)
	_, err = s.GetWebhook(ctx, a.ID)
	wantCode(t, err, store.ENOTFOUND)
	if list, _ = s.ListWebhooks(ctx); len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("after delete: %v", list)
	}
}

func testWebhookConcurrentUpdates(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := w.Clone()
			c.URL = fmt.Sprintf("https://a.example/%d", i)
			_, err := s.UpdateWebhook(ctx, c, w.Version)
			mu.Lock()
			defer mu.Unlock()
			switch store.ErrorCode(err) {
			case "":
				won++
			case store.EPRECONDITION:
			default:
				t.Errorf("update: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d conditional updates of one version succeeded, want 1", won)
	}
}

func testEnqueueOffsets(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	lim := store.DefaultDeliveryLimits()
	if _, ok, err := s.Offset(ctx, "kafka:t", 0); ok || err != nil {
		t.Fatalf("offset of a new partition: %v %v", ok, err)
	}
	if _, err := s.Enqueue(ctx, "kafka:t", 0, -1, 9, batches(w.ID, "b1", "b2"), lim); err != nil {
		t.Fatal(err)
	}
	if last, ok, err := s.Offset(ctx, "kafka:t", 0); !ok || last != 9 || err != nil {
		t.Fatalf("offset %d %v %v, want 9", last, ok, err)
	}
	// Not continuing from the stored offset: stale, nothing written.
	for _, prev := range []int64{-1, 5, 10} {
		_, err := s.Enqueue(ctx, "kafka:t", 0, prev, 20, batches(w.ID, "x"), lim)
		if !errors.Is(err, store.ErrStale) {
			t.Fatalf("Enqueue after %d = %v, want ErrStale", prev, err)
		}
	}
	// Other partitions and sources are apart.
	if _, err := s.Enqueue(ctx, "kafka:t", 1, -1, 3, batches(w.ID, "p1"), lim); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "log", 0, -1, 100, nil, lim); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, "kafka:t", 0, 9, 12, batches(w.ID, "b3"), lim); err != nil {
		t.Fatal(err)
	}
	// No offset at all: a redelivery's append.
	if _, err := s.Enqueue(ctx, "", 0, 0, 0, batches(w.ID, "r1"), lim); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		source string
		part   int
		want   int64
	}{{"kafka:t", 0, 12}, {"kafka:t", 1, 3}, {"log", 0, 100}} {
		if last, ok, err := s.Offset(ctx, c.source, c.part); !ok || last != c.want || err != nil {
			t.Fatalf("offset of %s/%d = %d %v %v, want %d", c.source, c.part, last, ok, err, c.want)
		}
	}
	if got := peekIDs(t, s, w.ID, 10); got != "b1,b2,p1,b3,r1" {
		t.Fatalf("outbox %s", got)
	}
	// Batches for a webhook that is gone are dropped; the offset moves.
	if _, err := s.Enqueue(ctx, "kafka:t", 0, 12, 13, batches("wh_gone", "g1"), lim); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OutboxLen(ctx, "wh_gone"); n != 0 || err != nil {
		t.Fatalf("outbox of a missing webhook holds %d (%v)", n, err)
	}
}

func testOutboxOrderAck(t *testing.T, s WebhookStore) {
	a := mustCreateHook(t, s, "https://a.example/hook")
	b := mustCreateHook(t, s, "https://b.example/hook")
	lim := store.DefaultDeliveryLimits()
	var in []store.OutboxBatch
	for i := 0; i < 30; i++ {
		in = append(in, batch(a.ID, fmt.Sprintf("a%02d", i)))
		if i%3 == 0 {
			in = append(in, batch(b.ID, fmt.Sprintf("b%02d", i)))
		}
	}
	if _, err := s.Enqueue(ctx, "src", 0, -1, 0, in, lim); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OutboxLen(ctx, a.ID); n != 30 {
		t.Fatalf("outbox a holds %d", n)
	}
	if got := peekIDs(t, s, a.ID, 3); got != "a00,a01,a02" {
		t.Fatalf("peek %s", got)
	}
	if got := peekIDs(t, s, b.ID, 100); got != "b00,b03,b06,b09,b12,b15,b18,b21,b24,b27" {
		t.Fatalf("peek b %s", got)
	}
	bs, err := s.Peek(ctx, a.ID, 1)
	if err != nil || len(bs) != 1 {
		t.Fatal(err)
	}
	want := in[0]
	if got := bs[0]; got.ID != want.ID || got.WebhookID != a.ID || got.Type != store.EventScan || string(got.Body) != string(want.Body) ||
		got.Events != 1 || !got.FirstAt.Equal(at) {
		t.Fatalf("peeked %+v, want %+v", got, want)
	}
	if err := s.Ack(ctx, a.ID, "a00", "a01", "nope"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, a.ID, "a00"); err != nil {
		t.Fatal(err)
	}
	if got := peekIDs(t, s, a.ID, 2); got != "a02,a03" {
		t.Fatalf("after ack: %s", got)
	}
	if n, _ := s.OutboxLen(ctx, a.ID); n != 28 {
		t.Fatalf("outbox a holds %d after acking 2", n)
	}
	// A batch id already waiting is not queued twice.
	if _, err := s.Enqueue(ctx, "", 0, 0, 0, batches(a.ID, "a05"), lim); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OutboxLen(ctx, a.ID); n != 28 {
		t.Fatalf("outbox a holds %d after enqueueing a waiting batch again", n)
	}
}

func testOutboxOverflow(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	lim := store.DeliveryLimits{Outbox: 3, DeadLetters: 2}
	res, err := s.Enqueue(ctx, "src", 0, -1, 1, batches(w.ID, "o1", "o2"), lim)
	if err != nil || res != (store.EnqueueResult{}) {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = s.Enqueue(ctx, "src", 0, 1, 2, batches(w.ID, "o3", "o4", "o5", "o6"), lim)
	if err != nil || res.Overflow != 3 || res.DeadDropped != 1 {
		t.Fatalf("overflow result %+v %v, want 3 overflowed, 1 dropped", res, err)
	}
	if got := peekIDs(t, s, w.ID, 10); got != "o1,o2,o3" {
		t.Fatalf("outbox %s", got)
	}
	page, err := s.ListDeadLetters(ctx, w.ID, 10, "")
	if err != nil || len(page.DeadLetters) != 2 {
		t.Fatalf("dead letters %+v %v", page, err)
	}
	d := page.DeadLetters[0]
	if d.ID != "o6" || page.DeadLetters[1].ID != "o5" || d.Reason != store.DeadBacklogFull || string(d.Body) != string(batch(w.ID, "o6").Body) {
		t.Fatalf("dead letters %+v %+v", d, page.DeadLetters[1])
	}
}

func testDeadLetters(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	lim := store.DeliveryLimits{Outbox: 100, DeadLetters: 5}
	if _, err := s.Enqueue(ctx, "src", 0, -1, 1, batches(w.ID, "d0", "d1", "d2", "d3", "d4", "d5", "d6"), lim); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 7; i++ {
		b := batch(w.ID, fmt.Sprintf("d%d", i))
		dropped, err := s.AddDeadLetter(ctx, store.DeadLetter{OutboxBatch: b, Reason: store.DeadRejected,
			LastError: "HTTP 410", Attempts: i + 1, DeadAt: at.Add(time.Duration(i) * time.Minute)}, lim)
		if err != nil {
			t.Fatal(err)
		}
		total += dropped
	}
	if total != 2 {
		t.Fatalf("dropped %d dead letters beyond the cap of 5, want 2", total)
	}
	if n, _ := s.OutboxLen(ctx, w.ID); n != 0 {
		t.Fatalf("dead letters left %d batches in the outbox", n)
	}
	var got []string
	eachPage(t, 10, func(cursor string) (string, error) {
		page, err := s.ListDeadLetters(ctx, w.ID, 2, cursor)
		if err != nil {
			return "", err
		}
		for _, d := range page.DeadLetters {
			got = append(got, fmt.Sprintf("%s/%d", d.ID, d.Attempts))
		}
		return page.NextCursor, nil
	})
	if fmt.Sprint(got) != "[d6/7 d5/6 d4/5 d3/4 d2/3]" {
		t.Fatalf("dead letters %v", got)
	}
	_, err := s.ListDeadLetters(ctx, w.ID, 2, "not a cursor")
	wantCode(t, err, store.EINVALID)

	d, err := s.TakeDeadLetter(ctx, w.ID, "d3")
	if err != nil || d.ID != "d3" || d.Reason != store.DeadRejected || d.LastError != "HTTP 410" || !d.DeadAt.Equal(at.Add(3*time.Minute)) {
		t.Fatalf("TakeDeadLetter = %+v, %v", d, err)
	}
	_, err = s.TakeDeadLetter(ctx, w.ID, "d3")
	wantCode(t, err, store.ENOTFOUND)

	later := at.Add(time.Hour)
	b, err := s.RequeueDeadLetter(ctx, w.ID, "d5", later)
	if err != nil || b.ID != "d5" || !b.FirstAt.Equal(later) || string(b.Body) != string(batch(w.ID, "d5").Body) {
		t.Fatalf("RequeueDeadLetter = %+v, %v", b, err)
	}
	_, err = s.RequeueDeadLetter(ctx, w.ID, "d5", later)
	wantCode(t, err, store.ENOTFOUND)
	bs, err := s.Peek(ctx, w.ID, 10)
	if err != nil || len(bs) != 1 || bs[0].ID != "d5" || !bs[0].FirstAt.Equal(later) {
		t.Fatalf("outbox after requeue: %+v %v", bs, err)
	}
	page, _ := s.ListDeadLetters(ctx, w.ID, 10, "")
	if len(page.DeadLetters) != 3 {
		t.Fatalf("%d dead letters left, want 3", len(page.DeadLetters))
	}
	// Nothing for a webhook that does not exist.
	if _, err := s.AddDeadLetter(ctx, store.DeadLetter{OutboxBatch: batch("wh_gone", "x")}, lim); err != nil {
		t.Fatal(err)
	}
	if page, err := s.ListDeadLetters(ctx, "wh_gone", 10, ""); err != nil || len(page.DeadLetters) != 0 {
		t.Fatalf("dead letters of a missing webhook: %+v %v", page, err)
	}
}

func testLease(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	lease := func(owner string, ttl time.Duration, want bool) {
		t.Helper()
		got, err := s.Lease(ctx, w.ID, owner, ttl)
		if err != nil || got != want {
			t.Fatalf("Lease(%s) = %v, %v; want %v", owner, got, err, want)
		}
	}
	lease("p1", time.Minute, true)
	lease("p2", time.Minute, false)
	lease("p1", time.Minute, true) // renewal
	if err := s.Release(ctx, w.ID, "p2"); err != nil {
		t.Fatal(err)
	}
	lease("p2", time.Minute, false) // p2 held nothing to release
	if err := s.Release(ctx, w.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	lease("p2", 300*time.Millisecond, true)
	lease("p1", time.Minute, false)
	// An owner that stops renewing loses the lease when it expires.
	testwait.For(t, 10*time.Second, "the lease to expire", func() bool {
		ok, err := s.Lease(ctx, w.ID, "p1", time.Minute)
		return err == nil && ok
	})
	lease("p2", time.Minute, false)
}

func testAttempts(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	if got, err := s.ListAttempts(ctx, w.ID); err != nil || len(got) != 0 {
		t.Fatalf("attempts of a new webhook: %v %v", got, err)
	}
	for i := 0; i < store.MaxAttempts+20; i++ {
		a := store.Attempt{At: at.Add(time.Duration(i) * time.Second), DeliveryID: fmt.Sprintf("d%d", i), Status: 500,
			Latency: time.Duration(i) * time.Millisecond, Error: "HTTP 500"}
		if err := s.AddAttempt(ctx, w.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAttempts(ctx, w.ID)
	if err != nil || len(got) != store.MaxAttempts {
		t.Fatalf("%d attempts kept, want %d (%v)", len(got), store.MaxAttempts, err)
	}
	last := store.MaxAttempts + 19
	if a := got[0]; a.DeliveryID != fmt.Sprintf("d%d", last) || !a.At.Equal(at.Add(time.Duration(last)*time.Second)) ||
		a.Status != 500 || a.Latency != time.Duration(last)*time.Millisecond || a.Error != "HTTP 500" {
		t.Fatalf("newest attempt %+v", a)
	}
	if got[len(got)-1].DeliveryID != "d20" {
		t.Fatalf("oldest kept attempt %+v, want d20", got[len(got)-1])
	}
	if err := s.AddAttempt(ctx, "wh_gone", store.Attempt{DeliveryID: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ListAttempts(ctx, "wh_gone"); err != nil || len(got) != 0 {
		t.Fatalf("attempts of a missing webhook: %v %v", got, err)
	}
}

func testWebhookDeleteCascades(t *testing.T, s WebhookStore) {
	w := mustCreateHook(t, s, "https://a.example/hook")
	other := mustCreateHook(t, s, "https://b.example/hook")
	lim := store.DefaultDeliveryLimits()
	in := append(batches(w.ID, "x1", "x2", "x3"), batch(other.ID, "y1"))
	if _, err := s.Enqueue(ctx, "src", 0, -1, 5, in, lim); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDeadLetter(ctx, store.DeadLetter{OutboxBatch: batch(w.ID, "x1"), Reason: store.DeadGaveUp}, lim); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAttempt(ctx, w.ID, store.Attempt{DeliveryID: "x1", At: at}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Lease(ctx, w.ID, "p1", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := s.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OutboxLen(ctx, w.ID); n != 0 || err != nil {
		t.Fatalf("outbox of a deleted webhook holds %d (%v)", n, err)
	}
	if bs, err := s.Peek(ctx, w.ID, 10); len(bs) != 0 || err != nil {
		t.Fatalf("peek of a deleted webhook: %v %v", bs, err)
	}
	if page, err := s.ListDeadLetters(ctx, w.ID, 10, ""); err != nil || len(page.DeadLetters) != 0 {
		t.Fatalf("dead letters of a deleted webhook: %+v %v", page, err)
	}
	if got, err := s.ListAttempts(ctx, w.ID); err != nil || len(got) != 0 {
		t.Fatalf("attempts of a deleted webhook: %v %v", got, err)
	}
	if ok, err := s.Lease(ctx, w.ID, "p2", time.Minute); !ok || err != nil {
		t.Fatalf("the lease of a deleted webhook is still held: %v %v", ok, err)
	}
	// The offsets and the other webhook's outbox stay.
	if last, ok, _ := s.Offset(ctx, "src", 0); !ok || last != 5 {
		t.Fatalf("offset after delete: %d %v", last, ok)
	}
	if got := peekIDs(t, s, other.ID, 10); got != "y1" {
		t.Fatalf("the other webhook's outbox: %s", got)
	}
}
