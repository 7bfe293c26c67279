package webhook

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/redisstore"
	"github.com/qredge/qredge/store/storetest"
)

var ctx = context.Background()

// quiet discards logs, unless QREDGE_TEST_LOG is set (for debugging).
func quiet() *slog.Logger {
	if os.Getenv("QREDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// backend is a store to run a test on.
type backend struct {
	name string
	open func(t *testing.T) storetest.WebhookStore
}

// backends returns the embedded store and a store on a real redis-server
// (started once for the calling test; under CI a missing redis-server
// fails the test).
func backends(t *testing.T) []backend {
	var srv *redistest.Server
	n := 0
	return []backend{
		{"bolt", func(t *testing.T) storetest.WebhookStore {
			db, err := boltstore.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{"redis", func(t *testing.T) storetest.WebhookStore {
			if srv == nil {
				srv = redistest.MustStart(t, redistest.Options{})
			}
			n++
			return openRedis(t, srv.Addr(), fmt.Sprintf("wh%d", n))
		}},
	}
}

func openRedis(t testing.TB, addr, prefix string) *redisstore.Store {
	t.Helper()
	cfg := redisstore.DefaultConfig()
	cfg.Client.Addr, cfg.Prefix = addr, prefix
	s, err := redisstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachBackend runs fn as a subtest on each backend.
func eachBackend(t *testing.T, fn func(t *testing.T, s storetest.WebhookStore)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

// testConfig is fast: short timeouts, backoff and polling.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.AllowPrivate = true // the receivers listen on 127.0.0.1
	cfg.Timeout = 500 * time.Millisecond
	cfg.BackoffBase, cfg.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	cfg.Poll, cfg.Refresh = 10*time.Millisecond, 50*time.Millisecond
	cfg.LeaseTTL = 600 * time.Millisecond
	return cfg
}

const secret = "test-secret-0123456789"

func createHook(t *testing.T, s store.WebhookStore, url string, change func(w *store.Webhook)) *store.Webhook {
	t.Helper()
	w := &store.Webhook{URL: url, Secret: secret, Events: []string{store.EventScan}}
	if change != nil {
		change(w)
	}
	if err := store.ValidateWebhook(w); err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateWebhook(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// scans returns n scans of code numbered from first on: event ids end in
// the number, times follow it.
func scans(first, n int, code string) []analytics.Decoded {
	base := testclock.Now()
	out := make([]analytics.Decoded, n)
	for i := range out {
		seq := first + i
		d := analytics.Decoded{SchemaVersion: 1, Time: base.Add(time.Duration(seq) * time.Millisecond).UnixNano(), Code: code,
			LinkVersion: 3, Status: 302, Target: analytics.TargetDestination, Device: analytics.DeviceIOS,
			Source: analytics.SourceQR, Country: "DE", IPHash: uint64(seq) + 1}
		binary.BigEndian.PutUint64(d.ID[8:], uint64(seq))
		out[i] = d
	}
	return out
}

// seqOf is the number scans gave an event, read back from its hex id.
func seqOf(t testing.TB, id string) int {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		t.Fatalf("event id %q", id)
	}
	return int(binary.BigEndian.Uint64(b[8:]))
}

// receiver is a real HTTP server on 127.0.0.1 that checks every delivery
// (headers, signature) and records what it accepted. handle decides each
// request's status, by its number (from 0); it may block.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	handle func(n int, r *http.Request) int

	mu          sync.Mutex
	requests    int
	accepted    []Delivery     // in the order they were accepted
	attempts    map[string]int // delivery id -> requests
	inflight    int
	maxInflight int
}

func newReceiver(t testing.TB, handle func(n int, r *http.Request) int) *receiver {
	rc := &receiver{t: t, handle: handle, attempts: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func accept(int, *http.Request) int { return http.StatusNoContent }

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	n := rc.requests
	rc.requests++
	rc.inflight++
	rc.maxInflight = max(rc.maxInflight, rc.inflight)
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inflight--
		rc.mu.Unlock()
	}()
	var d Delivery
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/hook":
		rc.t.Errorf("%s %s", r.Method, r.URL.Path)
	case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != UserAgent:
		rc.t.Errorf("headers %v", r.Header)
	case json.Unmarshal(body, &d) != nil:
		rc.t.Errorf("body %q", body)
	case r.Header.Get(HeaderDelivery) != d.ID || r.Header.Get(HeaderEvent) != d.Type || d.ID == "":
		rc.t.Errorf("Qredge-Delivery %q and Qredge-Event %q for a delivery %q of %q", r.Header.Get(HeaderDelivery), r.Header.Get(HeaderEvent), d.ID, d.Type)
	}
	if err := Verify(secret, r.Header.Get(HeaderSignature), body, 5*time.Minute, time.Now()); err != nil {
		rc.t.Errorf("delivery %s: signature %q: %v", d.ID, r.Header.Get(HeaderSignature), err)
	}
	rc.mu.Lock()
	rc.attempts[d.ID]++
	rc.mu.Unlock()
	status := rc.handle(n, r)
	if status/100 == 2 {
		rc.mu.Lock()
		rc.accepted = append(rc.accepted, d)
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

// events returns the scan events accepted, each once, in the order they
// were first accepted.
func (rc *receiver) events() []ScanEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[string]bool{}
	var out []ScanEvent
	for _, d := range rc.accepted {
		for _, raw := range d.Events {
			var e ScanEvent
			if err := json.Unmarshal(raw, &e); err != nil {
				rc.t.Errorf("event %s: %v", raw, err)
			}
			if !seen[e.ID] {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func (rc *receiver) stats() (requests, accepted, maxInflight int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests, len(rc.accepted), rc.maxInflight
}

// startDeliverer runs a Deliverer until the test ends.
func startDeliverer(t *testing.T, cfg Config, s storetest.WebhookStore, m *Metrics) *Deliverer {
	t.Helper()
	if m == nil {
		m = NewMetrics(cfg.MetricWebhooks)
	}
	d, err := NewDeliverer(cfg, s, s, m, quiet())
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(cctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

// wantInOrder fails t unless events are the scans numbered from 0 to
// n-1, in order.
func wantInOrder(t *testing.T, events []ScanEvent, n int) {
	t.Helper()
	if len(events) != n {
		t.Fatalf("%d distinct events delivered, want %d", len(events), n)
	}
	for i, e := range events {
		if got := seqOf(t, e.ID); got != i {
			t.Fatalf("event %d delivered as number %d: out of order", got, i)
		}
	}
}
