package webhook

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/storetest"
)

// applyScans queues n scans of code in chunks of chunk, as a consumer
// would, from offset 0 of source "test".
func applyScans(t *testing.T, a *Applier, n, chunk int, code string) {
	t.Helper()
	prev := int64(-1)
	for first := 0; first < n; first += chunk {
		k := min(chunk, n-first)
		last := int64(first + k - 1)
		if err := a.ApplyScans(ctx, "test", 0, prev, last, scans(first, k, code)); err != nil {
			t.Fatal(err)
		}
		prev = last
	}
}

func newApplier(t *testing.T, cfg Config, s storetest.WebhookStore, m *Metrics) *Applier {
	t.Helper()
	if m == nil {
		m = NewMetrics(cfg.MetricWebhooks)
	}
	return NewApplier(cfg, NewRouter(cfg, s, nil, quiet()), s, m, quiet())
}

// A receiver that fails with 500s, then stalls past the timeout, then
// recovers gets every event, each batch in order and one at a time.
func TestDeliverRetriesInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		rc := newReceiver(t, func(n int, r *http.Request) int {
			switch {
			case n < 3:
				return http.StatusInternalServerError
			case n == 3:
				<-r.Context().Done() // stalls until the deliverer gives the request up
				return http.StatusServiceUnavailable
			case n == 4:
				return http.StatusTooManyRequests
			}
			return http.StatusOK
		})
		cfg := testConfig()
		cfg.MaxEvents = 7
		createHook(t, s, rc.URL(), nil)
		m := NewMetrics(cfg.MetricWebhooks)
		applyScans(t, newApplier(t, cfg, s, m), 100, 30, "c1")
		startDeliverer(t, cfg, s, m)
		testwait.For(t, 30*time.Second, "100 events at the receiver", func() bool { return len(rc.events()) >= 100 })
		wantInOrder(t, rc.events(), 100)
		requests, accepted, maxInflight := rc.stats()
		if maxInflight != 1 {
			t.Fatalf("%d requests of one webhook at once, want 1", maxInflight)
		}
		// 100 events in 4 chunks of at most 30, cut at 7: 5 batches per
		// chunk of 30 (7+7+7+7+2) and 2 for the last 10.
		if accepted != 17 || requests < 22 {
			t.Fatalf("%d requests, %d accepted; want 5 failures and 17 batches", requests, accepted)
		}
		if got := testutil.ToFloat64(m.Retried); got < 5 {
			t.Fatalf("retries counted %v, want at least 5", got)
		}
		hooks, _ := s.ListWebhooks(ctx)
		testwait.For(t, 10*time.Second, "an empty outbox", func() bool {
			n, err := s.OutboxLen(ctx, hooks[0].ID)
			return err == nil && n == 0
		})
		attempts, err := s.ListAttempts(ctx, hooks[0].ID)
		if err != nil || len(attempts) < 22 {
			t.Fatalf("%d attempts logged (%v)", len(attempts), err)
		}
		var timeouts, fivehundreds int
		for _, a := range attempts {
			switch {
			case a.Status == 0 && strings.Contains(a.Error, "no answer within"):
				timeouts++
			case a.Status == 500 && a.Error == "HTTP 500":
				fivehundreds++
			}
		}
		if timeouts != 1 || fivehundreds != 3 {
			t.Fatalf("attempt log has %d timeouts and %d HTTP 500s, want 1 and 3: %+v", timeouts, fivehundreds, attempts)
		}
	})
}

// A receiver that stalls holds back only its own webhook.
func TestStalledReceiverDelaysOnlyItsWebhook(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		release := make(chan struct{})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		stalled := newReceiver(t, func(n int, r *http.Request) int {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusOK
		})
		healthy := newReceiver(t, accept)
		cfg := testConfig()
		cfg.Timeout = time.Minute // the stalled receiver's request stays open
		cfg.MaxEvents = 10
		createHook(t, s, stalled.URL(), nil)
		createHook(t, s, healthy.URL(), nil)
		applyScans(t, newApplier(t, cfg, s, nil), 200, 50, "c1")
		startDeliverer(t, cfg, s, nil)
		testwait.For(t, 30*time.Second, "200 events at the healthy receiver", func() bool { return len(healthy.events()) >= 200 })
		wantInOrder(t, healthy.events(), 200)
		if requests, accepted, _ := stalled.stats(); requests != 1 || accepted != 0 {
			t.Fatalf("the stalled receiver had %d requests, %d accepted; want 1 waiting", requests, accepted)
		}
		once.Do(func() { close(release) })
		testwait.For(t, 30*time.Second, "200 events at the stalled receiver once released", func() bool { return len(stalled.events()) >= 200 })
		wantInOrder(t, stalled.events(), 200)
	})
}

func deadLetters(t *testing.T, s storetest.WebhookStore, id string) []*store.DeadLetter {
	t.Helper()
	page, err := s.ListDeadLetters(ctx, id, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.DeadLetters
}

// A 4xx answer dead-letters a batch at once; a receiver failing past the
// give-up time dead-letters it then; Redeliver sends them again.
func TestDeadLettersAndRedeliver(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		var mu sync.Mutex
		rejectStatus, failStatus := http.StatusGone, http.StatusBadGateway
		rejecting := newReceiver(t, func(int, *http.Request) int { mu.Lock(); defer mu.Unlock(); return rejectStatus })
		failing := newReceiver(t, func(int, *http.Request) int { mu.Lock(); defer mu.Unlock(); return failStatus })
		clock := testclock.At(testclock.Now())
		cfg := testConfig()
		cfg.Now = clock.Now
		cfg.GiveUpAfter = time.Hour
		rej := createHook(t, s, rejecting.URL(), nil)
		fail := createHook(t, s, failing.URL(), nil)
		m := NewMetrics(cfg.MetricWebhooks)
		applyScans(t, newApplier(t, cfg, s, m), 5, 5, "c1")
		d := startDeliverer(t, cfg, s, m)

		testwait.For(t, 10*time.Second, "the rejected batch in the dead letters", func() bool { return len(deadLetters(t, s, rej.ID)) == 1 })
		dl := deadLetters(t, s, rej.ID)[0]
		if dl.Reason != store.DeadRejected || dl.Attempts != 1 || dl.LastError != "HTTP 410" || dl.Events != 5 || !dl.DeadAt.Equal(clock.Now()) {
			t.Fatalf("dead letter %+v", dl)
		}
		if requests, _, _ := rejecting.stats(); requests != 1 {
			t.Fatalf("a 410 was retried: %d requests", requests)
		}
		// The failing receiver is retried until the give-up time passes.
		testwait.For(t, 10*time.Second, "retries of the failing receiver", func() bool { r, _, _ := failing.stats(); return r >= 3 })
		if len(deadLetters(t, s, fail.ID)) != 0 {
			t.Fatal("a 502 was dead-lettered before the give-up time")
		}
		clock.Add(time.Hour)
		testwait.For(t, 10*time.Second, "the failing batch in the dead letters", func() bool { return len(deadLetters(t, s, fail.ID)) == 1 })
		dl = deadLetters(t, s, fail.ID)[0]
		if dl.Reason != store.DeadGaveUp || dl.Attempts < 3 || !strings.HasPrefix(dl.LastError, "HTTP 502") {
			t.Fatalf("dead letter %+v", dl)
		}
		// Counted once stored: right after the store write.
		testwait.For(t, 10*time.Second, "2 dead letters counted", func() bool {
			return testutil.ToFloat64(m.deadBy[store.DeadRejected]) == 1 && testutil.ToFloat64(m.deadBy[store.DeadGaveUp]) == 1
		})

		// Both receivers recover; redelivery sends the same batches.
		mu.Lock()
		rejectStatus, failStatus = http.StatusOK, http.StatusAccepted
		mu.Unlock()
		for _, h := range []*store.Webhook{rej, fail} {
			id := deadLetters(t, s, h.ID)[0].ID
			b, err := s.RequeueDeadLetter(ctx, h.ID, id, clock.Now().UTC())
			if err != nil || b.ID != id || !b.FirstAt.Equal(clock.Now()) {
				t.Fatalf("Redeliver = %+v, %v", b, err)
			}
			d.Notify(h.ID)
			if _, err := s.RequeueDeadLetter(ctx, h.ID, id, clock.Now().UTC()); store.ErrorCode(err) != store.ENOTFOUND {
				t.Fatalf("second Redeliver = %v", err)
			}
		}
		for _, rc := range []*receiver{rejecting, failing} {
			testwait.For(t, 10*time.Second, "the redelivered batch", func() bool { return len(rc.events()) == 5 })
			wantInOrder(t, rc.events(), 5)
		}
		if len(deadLetters(t, s, rej.ID))+len(deadLetters(t, s, fail.ID)) != 0 {
			t.Fatal("dead letters left after redelivery")
		}
	})
}

// Without AllowPrivate a webhook on a loopback address is refused: its
// batches go to the dead letters and the receiver sees nothing.
func TestPrivateDestinationRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		rc := newReceiver(t, accept)
		cfg := testConfig()
		cfg.AllowPrivate = false
		w := createHook(t, s, rc.URL(), nil)
		if err := store.CheckWebhookURL(ctx, w.URL, false, nil); store.ErrorCode(err) != store.EINVALID {
			t.Fatalf("the API's check of %s: %v", w.URL, err)
		}
		if err := store.CheckWebhookURL(ctx, w.URL, true, nil); err != nil {
			t.Fatalf("the API's check of %s with private addresses allowed: %v", w.URL, err)
		}
		m := NewMetrics(cfg.MetricWebhooks)
		applyScans(t, newApplier(t, cfg, s, m), 3, 3, "c1")
		startDeliverer(t, cfg, s, m)
		testwait.For(t, 10*time.Second, "the refused batch in the dead letters", func() bool { return len(deadLetters(t, s, w.ID)) == 1 })
		if dl := deadLetters(t, s, w.ID)[0]; dl.Reason != store.DeadRefused || !strings.Contains(dl.LastError, "--webhook-allow-private") {
			t.Fatalf("dead letter %+v", dl)
		}
		if requests, _, _ := rc.stats(); requests != 0 {
			t.Fatalf("the loopback receiver got %d requests", requests)
		}
	})
}

// The dialer refuses loopback addresses whatever name led to them: the
// check behind store.CheckWebhookURL, at connection time.
func TestDialRefusesPrivateAddresses(t *testing.T) {
	rc := newReceiver(t, accept)
	post := func(allow bool) (*http.Response, error) {
		cfg := testConfig()
		cfg.AllowPrivate = allow
		body := `{"id":"dlv_1","webhook_id":"wh_1","type":"scan","events":[]}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rc.URL(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", UserAgent)
		req.Header.Set(HeaderDelivery, "dlv_1")
		req.Header.Set(HeaderEvent, "scan")
		req.Header.Set(HeaderSignature, Sign(secret, time.Now(), []byte(body)))
		return newClient(&cfg).Do(req)
	}
	resp, err := post(false)
	if err == nil {
		resp.Body.Close()
		t.Fatal("connected to a loopback address with private addresses refused")
	}
	if !isRefused(err) {
		t.Fatalf("error %v, want the address policy's refusal", err)
	}
	if requests, _, _ := rc.stats(); requests != 0 {
		t.Fatalf("the receiver got %d requests", requests)
	}
	// The same client reaches it when allowed.
	resp, err = post(true)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if requests, accepted, _ := rc.stats(); requests != 1 || accepted != 1 || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the receiver got %d requests, accepted %d, answered %d; want 1, 1, 204", requests, accepted, resp.StatusCode)
	}
}

// A full outbox sends what does not fit to the dead letters, counted.
func TestOutboxOverflow(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		cfg := testConfig()
		cfg.MaxEvents, cfg.OutboxCap = 2, 3
		w := createHook(t, s, "https://hooks.example/x", nil)
		m := NewMetrics(cfg.MetricWebhooks)
		applyScans(t, newApplier(t, cfg, s, m), 10, 10, "c1") // 5 batches, no deliverer
		if n, _ := s.OutboxLen(ctx, w.ID); n != 3 {
			t.Fatalf("outbox holds %d, want 3", n)
		}
		dls := deadLetters(t, s, w.ID)
		if len(dls) != 2 || dls[0].Reason != store.DeadBacklogFull {
			t.Fatalf("dead letters %+v", dls)
		}
		if got := testutil.ToFloat64(m.deadBy[store.DeadBacklogFull]); got != 2 {
			t.Fatalf("backlog_full counted %v, want 2", got)
		}
		if got := testutil.ToFloat64(m.Enqueued); got != 3 {
			t.Fatalf("enqueued counted %v, want 3", got)
		}
	})
}

// Two deliverers on one store send a webhook's batches one at a time:
// only the lease holder delivers.
func TestLeaseOneDelivererAtATime(t *testing.T) {
	eachBackend(t, func(t *testing.T, s storetest.WebhookStore) {
		rc := newReceiver(t, func(n int, r *http.Request) int {
			time.Sleep(2 * time.Millisecond) // room for a second sender to overlap, if there were one
			return http.StatusOK
		})
		cfg := testConfig()
		cfg.MaxEvents = 5
		createHook(t, s, rc.URL(), nil)
		applyScans(t, newApplier(t, cfg, s, nil), 100, 25, "c1")
		startDeliverer(t, cfg, s, nil)
		startDeliverer(t, cfg, s, nil)
		testwait.For(t, 30*time.Second, "100 events at the receiver", func() bool { return len(rc.events()) >= 100 })
		wantInOrder(t, rc.events(), 100)
		if _, _, maxInflight := rc.stats(); maxInflight != 1 {
			t.Fatalf("%d requests of one webhook at once from two deliverers, want 1", maxInflight)
		}
	})
}

// The lease holder reports a webhook's outbox and lag.
func TestOutboxGauges(t *testing.T) {
	db := openBolt(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rc := newReceiver(t, func(n int, r *http.Request) int {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	clock := testclock.At(testclock.Now())
	cfg := testConfig()
	cfg.Now, cfg.Timeout, cfg.MaxEvents = clock.Now, time.Minute, 1
	w := createHook(t, db, rc.URL(), nil)
	m := NewMetrics(cfg.MetricWebhooks)
	applyScans(t, newApplier(t, cfg, db, m), 3, 3, "c1")
	clock.Add(90 * time.Second)
	startDeliverer(t, cfg, db, m)
	testwait.For(t, 10*time.Second, "the gauges of a webhook stuck on its first batch", func() bool {
		return testutil.ToFloat64(m.outbox.WithLabelValues(w.ID)) == 3 && testutil.ToFloat64(m.lag.WithLabelValues(w.ID)) == 90
	})
}
