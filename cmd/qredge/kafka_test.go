package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testnet"
	"github.com/qredge/qredge/internal/testwait"
)

// TestEdgeKafkaOutage: an edge answers steady scans while the whole Kafka
// cluster is down and comes back. Scans get no errors and no extra
// latency beyond noise; every scan's event arrives in Kafka afterwards.
func TestEdgeKafkaOutage(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	for i := 0; i < 10; i++ {
		apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"k%d","destination":"https://example.com/%d"}`, i, i))
	}
	// Ports below the ephemeral range: nothing else takes them while
	// the cluster is down.
	ports := testnet.FreePorts(t, 3)
	k := kafkatest.MustStart(t, kafkatest.Options{Ports: ports})
	brokers := k.ListenAddrs()
	e := mustStartEdge(t, srv.Addr(), func(c *EdgeConfig) {
		c.Kafka.Kafka.Brokers = []string{brokers[0], brokers[1], brokers[2]}
		c.Kafka.WriteTimeout = time.Second // shorter than the outage, so the spool is used
	})
	waitReady(t, e)

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
	// kfake keeps data in memory only: take what the first cluster holds
	// before stopping it, once everything enqueued so far was published.
	testwait.For(t, 30*time.Second, "events published", func() bool {
		st := e.events.Stats()
		return e.events.Queue().Len() == 0 && st.Published.Load()+st.Spooled.Load() >= uint64(scans)
	})
	ids := readTopic(t, brokers)
	consumedBefore := len(ids)
	k.Close()
	during := phase(3 * time.Second)
	k2 := kafkatest.MustStart(t, kafkatest.Options{Ports: ports})
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
	// Once the spool is drained, the new cluster holds the rest.
	lastLog := time.Now()
	testwait.For(t, 90*time.Second, "spool drained", func() bool {
		st := e.events.Stats()
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			t.Logf("waiting: queue %d, spool %d bytes, published %d, spooled %d, replayed %d, publish errors %d, healthy %v",
				e.events.Queue().Len(), e.events.Spool().Size(), st.Published.Load(), st.Spooled.Load(), st.Replayed.Load(), st.PublishErrors.Load(), e.events.Healthy())
		}
		// Every scan's event acknowledged, live or from the spool (a batch
		// can still be in flight while queue and spool are both empty).
		return e.events.Queue().Len() == 0 && e.events.Spool().Size() == 0 &&
			st.Published.Load()+st.Replayed.Load() >= uint64(scans)
	})
	for id := range readTopic(t, k2.ListenAddrs()) {
		ids[id] = true
	}
	if len(ids) != scans {
		t.Fatalf("%d distinct events in Kafka for %d scans", len(ids), scans)
	}
	st := e.events.Stats()
	t.Logf("events: consumed before the outage %d, total distinct %d for %d scans; published %d, spooled %d, replayed %d, dropped %d",
		consumedBefore, len(ids), scans, st.Published.Load(), st.Spooled.Load(), st.Replayed.Load(), st.SpoolDropped.Load()+st.QueueFull.Load())
	if st.Spooled.Load() == 0 {
		t.Fatal("nothing was spooled during the outage")
	}
}

// readTopic reads every partition of qredge.scans from its first to its
// last offset, without a consumer group, and returns the event IDs.
func readTopic(t *testing.T, brokers []string) map[[16]byte]bool {
	t.Helper()
	ids := map[[16]byte]bool{}
	for p := 0; p < 6; p++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := kafkago.DialLeader(ctx, "tcp", brokers[0], "qredge.scans", p)
		if err != nil {
			cancel()
			t.Fatalf("partition %d: %v", p, err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			cancel()
			t.Fatalf("partition %d: %v", p, err)
		}
		if last > 0 {
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: "qredge.scans", Partition: p, MaxWait: 100 * time.Millisecond})
			r.SetOffset(kafkago.FirstOffset)
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					r.Close()
					cancel()
					t.Fatalf("partition %d: %v", p, err)
				}
				if d, err := analytics.Decode(m.Value); err == nil {
					ids[d.ID] = true
				}
				if m.Offset >= last-1 {
					break
				}
			}
			r.Close()
		}
		cancel()
	}
	return ids
}
