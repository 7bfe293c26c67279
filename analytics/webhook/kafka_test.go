package webhook

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/internal/testwait"
)

var _ kafka.Applier = (*KafkaApplier)(nil)

// publish sends the scans numbered first to first+n-1 through the real
// Writer, encoded as edges encode them.
func publish(t *testing.T, w *kafka.Writer, first, n int) {
	t.Helper()
	enc := analytics.NewEncoder([]byte("ip-secret"), "edge-1")
	recs := make([]analytics.Record, n)
	for i := range recs {
		seq := first + i
		e := analytics.Event{Time: testclock.Now().UnixNano(), Key: fmt.Sprintf("c%d\x00", seq%3), Version: 1, Status: 302,
			Target: analytics.TargetDestination, Rule: -1, Device: analytics.DeviceAndroid, Source: analytics.SourceQR}
		binary.BigEndian.PutUint64(e.ID[8:], uint64(seq))
		e.IP[0], e.IP[15] = 10, byte(seq)
		recs[i] = analytics.Record{Key: e.ID[:], Value: enc.Append(nil, &e)}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.Publish(pctx, recs); err != nil {
		t.Fatal(err)
	}
}

// startConsumer runs a member of the "qredge-webhooks" group with a's
// KafkaApplier; the returned func stops it and waits.
func startConsumer(t *testing.T, brokers []string, a *Applier) (stop func()) {
	t.Helper()
	cfg := kafka.DefaultConsumerConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Group = "qredge-webhooks"
	cfg.BatchSize, cfg.Linger = 100, 20*time.Millisecond
	cfg.SessionTimeout, cfg.HeartbeatInterval, cfg.RebalanceTimeout = time.Second, 200*time.Millisecond, 2*time.Second
	m := aggregate.NewMetrics()
	c, err := kafka.NewConsumer(ctx, cfg, NewKafkaApplier(a), m, aggregate.NewBrake(m.Paused), quiet())
	if err != nil {
		t.Fatal(err)
	}
	run := c.Start()
	var once bool
	stop = func() {
		if !once {
			once = true
			if !run.Stop(10 * time.Second) {
				t.Error("the consumer did not stop")
			}
			if err := run.Err(); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// The webhooks consumer group queues every scan of the topic for the
// webhooks, and a member started after another stopped goes on from the
// stored offsets: nothing lost, nothing queued twice.
func TestKafkaApplierDelivers(t *testing.T) {
	k := kafkatest.MustStart(t, kafkatest.Options{})
	brokers := k.ListenAddrs()
	srv := redistest.MustStart(t, redistest.Options{})
	s := openRedis(t, srv.Addr(), "qredge")
	rc := newReceiver(t, accept)
	cfg := testConfig()
	cfg.MaxEvents = 40
	createHook(t, s, rc.URL(), nil)
	m := NewMetrics(cfg.MetricWebhooks)
	a := NewApplier(cfg, NewRouter(cfg, s, nil, quiet()), s, m, quiet())
	d := startDeliverer(t, cfg, s, m)
	a.Notify = d.Notify

	wcfg := kafka.DefaultWriterConfig()
	wcfg.Kafka.Brokers = brokers
	w, err := kafka.NewWriter(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	publish(t, w, 0, 600)
	stop := startConsumer(t, brokers, a)
	testwait.For(t, 60*time.Second, "600 events at the receiver", func() bool { return len(rc.events()) >= 600 })
	stop()

	publish(t, w, 600, 400)
	startConsumer(t, brokers, a)
	testwait.For(t, 60*time.Second, "1000 events at the receiver", func() bool { return len(rc.events()) >= 1000 })

	seen := map[int]bool{}
	for _, e := range rc.events() {
		n := seqOf(t, e.ID)
		if seen[n] || n < 0 || n >= 1000 || e.Source != "qr" || e.Device != "android" || e.Visitor == "" {
			t.Fatalf("event %+v", e)
		}
		seen[n] = true
	}
	// Each event was queued once (the second member did not read the
	// topic again from its start): in one delivery, whatever its retries.
	if got := testutil.ToFloat64(m.Events); got != 1000 {
		t.Fatalf("%v events queued, want 1000", got)
	}
	rc.mu.Lock()
	in := map[string]string{}
	for _, dl := range rc.accepted {
		for _, raw := range dl.Events {
			if prev, ok := in[string(raw)]; ok && prev != dl.ID {
				t.Errorf("event %s queued in deliveries %s and %s", raw, prev, dl.ID)
			}
			in[string(raw)] = dl.ID
		}
	}
	rc.mu.Unlock()
	parts := 0
	for p := 0; p < 6; p++ {
		if _, ok, err := s.Offset(ctx, KafkaSource(kafkatest.Topic), p); err != nil {
			t.Fatal(err)
		} else if ok {
			parts++
		}
	}
	if parts == 0 {
		t.Fatal("no partition's offset stored")
	}
}
