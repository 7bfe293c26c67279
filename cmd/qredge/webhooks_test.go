package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics/webhook"
	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/internal/testwait"
)

// receiver is a webhook receiver in the test: it checks every delivery's
// signature, records the events it accepts, and fails or stalls on
// request.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	mode   string // "", "fail" (500) or "stall" (longer than the timeout)
	scans  map[string]int
	links  []string // "type code version", in arrival order
	tries  int
	fails  int // attempts answered with a failure or a stall
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, scans: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setMode(m string) { r.mu.Lock(); r.mode = m; r.mu.Unlock() }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	mode, secret := r.mode, r.secret
	r.tries++
	if mode != "" {
		r.fails++
	}
	r.mu.Unlock()
	switch mode {
	case "fail":
		http.Error(w, "down", 500)
		return
	case "stall":
		time.Sleep(1500 * time.Millisecond)
		return
	}
	if err := webhook.Verify(secret, req.Header.Get("Qredge-Signature"), body, 5*time.Minute, time.Now()); err != nil {
		r.t.Errorf("delivery %s: %v", req.Header.Get("Qredge-Delivery"), err)
		http.Error(w, "bad signature", 400)
		return
	}
	var d struct {
		Type   string
		Events []struct {
			ID   string
			Code string
			Link struct {
				Code    string
				Version uint64
			}
		}
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Type != req.Header.Get("Qredge-Event") {
		r.t.Errorf("delivery %s: %v %s", req.Header.Get("Qredge-Delivery"), err, body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range d.Events {
		if d.Type == "scan" {
			r.scans[e.ID]++
		} else {
			r.links = append(r.links, fmt.Sprintf("%s %s %d", d.Type, e.Link.Code, e.Link.Version))
		}
	}
}

func (r *receiver) counts() (scans int, links []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.scans), append([]string(nil), r.links...)
}

// TestServeWebhooks: qredge serve delivers scans from its own event log
// and link changes from its store to a receiver that fails, stalls and
// recovers: every event arrives, signed, link events in order; a second
// webhook filtered by code gets only its scans, undelayed by the first.
func TestServeWebhooks(t *testing.T) {
	const key = "webhooks-test-admin-key-123"
	rcv, other := newReceiver(t), newReceiver(t)
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) {
		c.API.AdminKey = key
		c.Webhook.AllowPrivate = true // the receivers are on 127.0.0.1
		c.Webhook.Timeout = time.Second
	})
	base := "http://" + s.Addr()
	create := func(r *receiver, body string) {
		t.Helper()
		resp, b := req(t, "POST", base+"/api/v1/webhooks", key, body)
		var w struct{ Secret string }
		json.Unmarshal([]byte(b), &w)
		if resp.StatusCode != 201 || w.Secret == "" {
			t.Fatalf("create webhook: %d %s", resp.StatusCode, b)
		}
		r.mu.Lock()
		r.secret = w.Secret
		r.mu.Unlock()
	}
	create(rcv, fmt.Sprintf(`{"url":%q,"events":["scan","link.created","link.updated","link.deleted"]}`, rcv.srv.URL))
	create(other, fmt.Sprintf(`{"url":%q,"events":["scan"],"codes":["b"]}`, other.srv.URL))
	// Without --webhook-allow-private a loopback receiver is refused.
	s2, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.API.AdminKey = key })
	if resp, b := req(t, "POST", "http://"+s2.Addr()+"/api/v1/webhooks", key, fmt.Sprintf(`{"url":%q,"events":["scan"]}`, rcv.srv.URL)); resp.StatusCode != 422 ||
		!strings.Contains(b, `"field":"url"`) {
		t.Fatalf("loopback receiver without --webhook-allow-private: %d %s", resp.StatusCode, b)
	}

	rcv.setMode("fail")
	for _, c := range []string{"a", "b"} {
		if resp, b := req(t, "POST", base+"/api/v1/links", key, fmt.Sprintf(`{"code":%q,"destination":"https://example.com/%s"}`, c, c)); resp.StatusCode != 201 {
			t.Fatalf("create %s: %d %s", c, resp.StatusCode, b)
		}
	}
	if resp, b := req(t, "PATCH", base+"/api/v1/links/a", key, `{"title":"A"}`); resp.StatusCode != 200 {
		t.Fatalf("patch: %d %s", resp.StatusCode, b)
	}
	const n = 60
	for i := 0; i < n; i++ {
		scanAs(t, base, "GET", "/"+[]string{"a", "b"}[i%2], desktopUA, nil, "")
		if i == n/3 {
			rcv.setMode("stall")
		}
	}
	// The other webhook gets b's scans while the first one's receiver is
	// down.
	testwait.For(t, 20*time.Second, "b's scans at the other receiver", func() bool {
		got, _ := other.counts()
		return got == n/2
	})
	if got, _ := rcv.counts(); got != 0 {
		t.Fatalf("the failing receiver accepted %d scans", got)
	}
	rcv.setMode("")
	if resp, _ := req(t, "DELETE", base+"/api/v1/links/b", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete b: %d", resp.StatusCode)
	}
	testwait.For(t, 30*time.Second, "every event at the recovered receiver", func() bool {
		got, links := rcv.counts()
		return got == n && len(links) == 4
	})
	_, links := rcv.counts()
	// A deletion carries the link's last state.
	if strings.Join(links, ", ") != "link.created a 1, link.created b 2, link.updated a 3, link.deleted b 2" {
		t.Fatalf("link events %q", links)
	}
	rcv.mu.Lock()
	tries := rcv.tries
	rcv.mu.Unlock()
	if tries < 3 {
		t.Fatalf("only %d delivery attempts: the failures were not retried", tries)
	}
	// The attempt log shows the failures.
	_, b := req(t, "GET", base+"/api/v1/webhooks", key, "")
	var list struct{ Webhooks []struct{ ID, URL string } }
	json.Unmarshal([]byte(b), &list)
	var id string
	for _, w := range list.Webhooks {
		if w.URL == rcv.srv.URL {
			id = w.ID
		}
	}
	if _, b := req(t, "GET", base+"/api/v1/webhooks/"+id+"/attempts", key, ""); !strings.Contains(b, `"status":500`) {
		t.Fatalf("attempts of %s: %s", id, b)
	}
}

func mustStartWebhooks(t *testing.T, redisAddr string, brokers []string) *webhook.Service {
	t.Helper()
	w := &webhook.Service{Config: webhook.DefaultServiceConfig(), Log: newLogger(&testlog.Buffer{}, "text", "debug")}
	w.Config.Redis.Addr = redisAddr
	w.Config.Kafka.Kafka.Brokers = brokers
	w.Config.AdminListen = "127.0.0.1:0"
	w.Config.Kafka.SessionTimeout = time.Second
	w.Config.Kafka.Linger = 20 * time.Millisecond
	w.Config.Webhook.AllowPrivate = true // the receiver is on 127.0.0.1
	w.Config.Webhook.Timeout = time.Second
	w.Config.Webhook.Refresh = 100 * time.Millisecond
	mustOpen(t, w.Config.Check, func() error { return w.Open(t.Context()) }, w.Close)
	return w
}

// TestDistributedWebhooks: qredge webhooks, a consumer group on the scan
// topic and a follower of the change stream, delivers every scan made
// through an edge and every link change made through qredge api, across
// a restart of the webhooks process and a receiver that fails for a
// while.
func TestDistributedWebhooks(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	a := mustStartAPIServer(t, srv.Addr(), func(c *APIConfig) { c.API.WebhookAllowPrivate = true })
	k := kafkatest.MustStart(t, kafkatest.Options{})
	brokers := k.ListenAddrs()
	e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) { c.Kafka.Kafka.Brokers = brokers })
	waitReady(t, e)
	w := mustStartWebhooks(t, srv.Addr(), brokers)
	rcv := newReceiver(t)
	st, b := apiCall(t, a, "POST", "/api/v1/webhooks", fmt.Sprintf(`{"url":%q,"events":["scan","link.created","link.updated"]}`, rcv.srv.URL))
	var hook struct{ ID, Secret string }
	json.Unmarshal([]byte(b), &hook)
	if st != 201 || hook.Secret == "" {
		t.Fatalf("create webhook: %d %s", st, b)
	}
	rcv.mu.Lock()
	rcv.secret = hook.Secret
	rcv.mu.Unlock()
	// The webhooks process reads the webhook list every --refresh: its
	// worker's gauge shows when it has.
	testwait.For(t, 10*time.Second, "the webhook known to the webhooks process", func() bool {
		_, b := req(t, "GET", "http://"+w.AdminAddr()+"/metrics", "", "")
		return strings.Contains(b, `qredge_webhook_outbox_batches{webhook="`+hook.ID+`"}`)
	})
	if st, b := apiCall(t, a, "POST", "/api/v1/links", `{"code":"w","destination":"https://example.com/w"}`); st != 201 {
		t.Fatal(st, b)
	}
	testwait.For(t, 10*time.Second, "the link on the edge", func() bool { st, _ := scanEdge(t, e, "w"); return st == 302 })
	const n = 40
	for i := 1; i < n; i++ {
		scanEdge(t, e, "w")
		if i == n/2 {
			rcv.setMode("fail")
			w.Close() // a restart: the next process reads on from the stored offsets
			w = mustStartWebhooks(t, srv.Addr(), brokers)
		}
	}
	if st, b := apiCall(t, a, "PATCH", "/api/v1/links/w", `{"title":"W"}`); st != 200 {
		t.Fatal(st, b)
	}
	testwait.For(t, 20*time.Second, "a failed delivery", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.fails > 0
	})
	rcv.setMode("")
	testwait.For(t, 60*time.Second, "every scan and change at the receiver", func() bool {
		got, links := rcv.counts()
		return got == n && len(links) == 2
	})
	if _, links := rcv.counts(); links[0] != "link.created w 1" || !strings.HasPrefix(links[1], "link.updated w ") {
		t.Fatalf("link events %q", links)
	}
	if resp, b := req(t, "GET", "http://"+w.AdminAddr()+"/metrics", "", ""); resp.StatusCode != 200 || !strings.Contains(b, "qredge_webhook_deliveries_total") {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
}
