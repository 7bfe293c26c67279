package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/redistest"
)

func mustStartKfake(t *testing.T, ports ...int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(6, "qredge.scans")}
	if len(ports) > 0 {
		opts = append(opts, kfake.Ports(ports...))
	}
	k, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestEdgeKafkaOutage: an edge answers steady scans while the whole Kafka
// cluster is down and comes back. Scans get no errors and no extra
// latency beyond noise; every scan's event arrives in Kafka afterwards.
func TestEdgeKafkaOutage(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	a := mustStartAPIServer(t, srv.Addr())
	for i := 0; i < 10; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"k%d","destination":"https://example.com/%d"}`, i, i))
	}
	k := mustStartKfake(t)
	brokers := k.ListenAddrs()
	var ports []int
	for _, b := range brokers {
		_, p, _ := net.SplitHostPort(b)
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) {
		c.Events.Kafka = fmt.Sprint(brokers[0], ",", brokers[1], ",", brokers[2])
	})
	waitReady(t, e)

	// Consume from the start of the topic, counting events by ID.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	ids := map[[16]byte]bool{}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "qredge.scans", GroupID: "outage-test",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	go func() {
		defer r.Close()
		for ctx.Err() == nil {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				continue
			}
			if d, err := analytics.Decode(m.Value); err == nil {
				mu.Lock()
				ids[d.ID] = true
				mu.Unlock()
			}
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	scans, errs := 0, 0
	phase := func(d time.Duration) []time.Duration {
		var lat []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			start := time.Now()
			resp, err := client.Get("http://" + e.Addr() + "/k" + strconv.Itoa(scans%10))
			lat = append(lat, time.Since(start))
			scans++
			if err != nil || resp.StatusCode != 302 {
				errs++
			}
			if resp != nil {
				resp.Body.Close()
			}
			time.Sleep(500 * time.Microsecond) // steady, not saturating: a latency test
		}
		return lat
	}
	before := phase(1500 * time.Millisecond)
	mu.Lock()
	consumedBefore := len(ids)
	mu.Unlock()
	k.Close()
	during := phase(3 * time.Second)
	k2 := mustStartKfake(t, ports...)
	defer k2.Close()
	after := phase(1500 * time.Millisecond)
	q := func(l []time.Duration, p float64) time.Duration {
		s := append([]time.Duration(nil), l...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	t.Logf("scan latency p50/p99: before %s/%s, Kafka down %s/%s, after %s/%s; %d scans, %d errors",
		q(before, .5), q(before, .99), q(during, .5), q(during, .99), q(after, .5), q(after, .99), scans, errs)
	if errs != 0 {
		t.Fatalf("%d scans failed while Kafka was down or recovering", errs)
	}
	// kfake keeps data in memory: events consumed before the stop plus
	// those sent after the restart must cover every scan.
	waitFor(t, 60*time.Second, "every event in Kafka", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ids) >= scans
	})
	st := e.events.Stats()
	t.Logf("events: consumed before the outage %d, total distinct %d for %d scans; published %d, spooled %d, replayed %d, dropped %d",
		consumedBefore, len(ids), scans, st.Published.Load(), st.Spooled.Load(), st.Replayed.Load(), st.SpoolDropped.Load()+st.QueueFull.Load())
	if st.Spooled.Load() == 0 {
		t.Fatal("nothing was spooled during the outage")
	}
}
