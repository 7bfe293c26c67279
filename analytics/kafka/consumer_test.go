package kafka

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/analytics/redisagg"
	"github.com/qredge/qredge/internal/kafkatest"
	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/redisstore"
)

// quiet discards logs, unless QREDGE_TEST_LOG is set (for debugging).
func quiet() *slog.Logger {
	if os.Getenv("QREDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// producer publishes encoded events through the real Writer (event-id
// balancer), as edges do.
type producer struct {
	sink   *Writer
	enc    *analytics.Encoder
	prefix [8]byte
	next   uint64
}

func newProducer(tb testing.TB, brokers []string) *producer {
	p := &producer{sink: mustWriter(tb, brokers), enc: analytics.NewEncoder([]byte("secret"), "test")}
	rand.Read(p.prefix[:])
	return p
}

// publish sends n events over codes c0..c4 and returns their records.
func (p *producer) publish(tb testing.TB, n int) []analytics.Record {
	tb.Helper()
	recs := make([]analytics.Record, n)
	for i := range recs {
		p.next++
		e := analytics.Event{Time: time.Now().UnixNano(), Key: fmt.Sprintf("c%d\x00", p.next%5), Version: 1, Status: 302,
			Target: analytics.TargetDestination, Rule: -1, Device: analytics.DeviceAndroid, Bot: p.next%10 == 0}
		copy(e.ID[:8], p.prefix[:])
		binary.BigEndian.PutUint64(e.ID[8:], p.next)
		e.IP[15] = byte(p.next)
		recs[i] = analytics.Record{Key: e.ID[:], Value: p.enc.Append(nil, &e)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.sink.Publish(ctx, recs); err != nil {
		tb.Fatal(err)
	}
	return recs
}

func newStore(tb testing.TB, addr string) *redisagg.Store {
	c, _, err := redisstore.NewClient(redisstore.ClientConfig{Addr: addr})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return redisagg.New(c, redisagg.DefaultConfig())
}

// startKafkaRedis starts a Kafka and a Redis, and returns the brokers,
// the Redis, a stats store on it and a producer to the Kafka.
func startKafkaRedis(tb testing.TB) ([]string, *redistest.Server, *redisagg.Store, *producer) {
	k := kafkatest.MustStart(tb, kafkatest.Options{})
	srv := redistest.MustStart(tb, redistest.Options{})
	return k.ListenAddrs(), srv, newStore(tb, srv.Addr()), newProducer(tb, k.ListenAddrs())
}

// total sums every link's scans today and tomorrow (UTC days).
func total(tb testing.TB, s *redisagg.Store) int64 {
	tb.Helper()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	top, err := s.Top(context.Background(), store.StatsQuery{From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour), Granularity: store.Day})
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, l := range top.Links {
		n += l.Total
	}
	return n
}

// waitTotal waits until the stats hold want scans, then a little longer
// to see that no more arrive.
func waitTotal(tb testing.TB, s *redisagg.Store, want int64, d time.Duration) {
	tb.Helper()
	testwait.For(tb, d, fmt.Sprintf("%d scans in the stats", want), func() bool { return total(tb, s) >= want })
	time.Sleep(300 * time.Millisecond)
	if got := total(tb, s); got != want {
		tb.Fatalf("stats hold %d scans, want exactly %d", got, want)
	}
}

type member struct {
	c      *Consumer
	m      *aggregate.Metrics
	brake  *aggregate.Brake
	cancel context.CancelFunc
	done   chan struct{}
}

func testConfig(brokers []string) ConsumerConfig {
	cfg := DefaultConsumerConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Group = "analytics-test"
	cfg.BatchSize = 200
	cfg.Linger = 20 * time.Millisecond
	cfg.SessionTimeout = time.Second
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.RebalanceTimeout = 2 * time.Second
	return cfg
}

func startMember(tb testing.TB, brokers []string, s *redisagg.Store) *member {
	tb.Helper()
	m := aggregate.NewMetrics()
	brake := aggregate.NewBrake(m.Paused)
	c, err := NewConsumer(context.Background(), testConfig(brokers), s, m, brake, quiet())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mb := &member{c: c, m: m, brake: brake, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(mb.done)
		if err := c.Run(ctx); err != nil {
			tb.Error(err)
		}
	}()
	tb.Cleanup(mb.stop)
	return mb
}

func (mb *member) stop() {
	mb.cancel()
	<-mb.done
}

func TestExactlyNWithDuplicatesAndPoison(t *testing.T) {
	brokers, _, s, p := startKafkaRedis(t)
	const n = 5000
	var recs []analytics.Record
	for i := 0; i < n/500; i++ {
		recs = p.publish(t, 500)
	}
	// The last batch again: what an edge sends when Kafka wrote a batch
	// but the acknowledgement timed out.
	ctx := context.Background()
	if err := p.sink.Publish(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Poison: bytes that are no ScanEvent, and an event from the future.
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{}}
	future := append([]byte{0x08, 0x09}, recs[0].Value[2:]...) // schema_version 9
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("not protobuf \xff\xff")}, kafkago.Message{Value: future}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	start := time.Now()
	mb := startMember(t, brokers, s)
	for len(mb.c.Assigned()) == 0 && time.Since(start) < 20*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("joined the group in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	waitTotal(t, s, n, 60*time.Second)
	t.Logf("%d events (+500 duplicates, 2 poison) applied in %s", n, time.Since(start).Round(time.Millisecond))
	if d := testutil.ToFloat64(mb.m.Duplicate); d != 500 {
		t.Fatalf("duplicates counted %v, want 500", d)
	}
	if pz := testutil.ToFloat64(mb.m.Poison); pz != 2 {
		t.Fatalf("poison counted %v, want 2", pz)
	}
	if testutil.CollectAndCount(mb.m.Freshness) != 1 || testutil.ToFloat64(mb.m.Applied) != n {
		t.Fatalf("applied metric %v", testutil.ToFloat64(mb.m.Applied))
	}
	// Per link: c0..c4 got n/5 each.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	st, err := s.LinkStats(ctx, store.StatsQuery{Code: "c3", From: day, To: day.Add(24 * time.Hour), Granularity: store.Hour})
	if err != nil || st.Total != n/5 {
		t.Fatalf("c3: %d (%v), want %d", st.Total, err, n/5)
	}
}

// TestTwoMembersOneLeaves: two members share the partitions; one leaves
// mid-stream; the other takes over its partitions from the stored offsets.
func TestTwoMembersOneLeaves(t *testing.T) {
	brokers, _, s, p := startKafkaRedis(t)
	a := startMember(t, brokers, s)
	b := startMember(t, brokers, s)
	testwait.For(t, 20*time.Second, "partitions for both members", func() bool {
		return len(a.c.Assigned()) != 0 && len(b.c.Assigned()) != 0
	})
	if len(a.c.Assigned())+len(b.c.Assigned()) != 6 || len(a.c.Assigned()) == 0 {
		t.Fatalf("assignments %v %v", a.c.Assigned(), b.c.Assigned())
	}
	t.Logf("shared: %v and %v", a.c.Assigned(), b.c.Assigned())
	var sent int64
	for i := 0; i < 20; i++ {
		p.publish(t, 250)
		sent += 250
		if i == 10 {
			b.stop() // leaves the group mid-stream
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitTotal(t, s, sent, 60*time.Second)
	if len(a.c.Assigned()) != 6 {
		t.Fatalf("the remaining member holds %v", a.c.Assigned())
	}
	t.Logf("applied by a %v, by b %v", testutil.ToFloat64(a.m.Applied), testutil.ToFloat64(b.m.Applied))
}

func TestPauseResume(t *testing.T) {
	brokers, _, s, p := startKafkaRedis(t)
	mb := startMember(t, brokers, s)
	p.publish(t, 1000)
	waitTotal(t, s, 1000, 30*time.Second)
	if !mb.brake.Pause() {
		t.Fatal("pause did not change the state")
	}
	select { // a batch in hand finishes
	case <-mb.brake.Halted():
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer did not halt")
	}
	p.publish(t, 2000)
	time.Sleep(time.Second)
	if got := total(t, s); got != 1000 {
		t.Fatalf("paused consumer applied: %d", got)
	}
	if testutil.ToFloat64(mb.m.Paused) != 1 {
		t.Fatal("paused gauge not set")
	}
	mb.brake.Resume()
	waitTotal(t, s, 3000, 30*time.Second)
}

// TestRedisLosesWrites: Redis loses everything (as after a restart
// without persistence); members notice their offsets are gone and count
// again from what Kafka still holds, so the stats end exact instead of
// missing what was lost.
func TestRedisLosesWrites(t *testing.T) {
	brokers, srv, s, p := startKafkaRedis(t)
	startMember(t, brokers, s)
	p.publish(t, 2000)
	waitTotal(t, s, 2000, 30*time.Second)
	srv.Do("FLUSHALL")
	p.publish(t, 1000)
	waitTotal(t, s, 3000, 30*time.Second)
}

func TestExactlyNOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster in the long run only (-short)")
	}
	k := kafkatest.MustStart(t, kafkatest.Options{})
	cl := redistest.MustStartCluster(t)
	s := newStore(t, "redis-cluster://"+cl.Addrs())
	p := newProducer(t, k.ListenAddrs())
	startMember(t, k.ListenAddrs(), s)
	startMember(t, k.ListenAddrs(), s)
	for i := 0; i < 10; i++ {
		p.publish(t, 400)
	}
	waitTotal(t, s, 4000, 60*time.Second)
}

// consumerChild is the child mode of TestSIGKILLRounds (see TestMain): a
// consumer process that runs until it is killed.
func consumerChild(env string) {
	brokers, redisAddr, _ := strings.Cut(env, "|")
	cl, _, _ := redisstore.NewClient(redisstore.ClientConfig{Addr: redisAddr})
	cfg := testConfig(strings.Split(brokers, ","))
	cfg.BatchSize = 50 // many small batches: kills land between and inside them
	mt := aggregate.NewMetrics()
	c, err := NewConsumer(context.Background(), cfg, redisagg.New(cl, redisagg.DefaultConfig()), mt, aggregate.NewBrake(nil), quiet())
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("started")
	c.Run(context.Background())
}

// TestSIGKILLRounds kills a consumer process with SIGKILL at random moments
// while events keep arriving, ten times, restarting it each time: the
// stats end with exactly the events sent.
func TestSIGKILLRounds(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s of kill rounds run in the long pass only (-short)")
	}
	brokers, srv, s, p := startKafkaRedis(t)
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a steady stream of scans during the kills
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			p.publish(t, 200)
			sent.Add(200)
		}
	}()
	env := "QREDGE_TEST_CONSUMER_CHILD=" + strings.Join(brokers, ",") + "|" + srv.Addr()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), env)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "started" {
			t.Fatalf("child: %q", sc.Text())
		}
		go io.Copy(io.Discard, out)
		return cmd
	}
	const rounds = 10
	var progress []int64
	for i := 0; i < rounds; i++ {
		cmd := start()
		d, _ := rand.Int(rand.Reader, big.NewInt(1500))
		time.Sleep(1200*time.Millisecond + time.Duration(d.Int64())*time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		progress = append(progress, total(t, s))
	}
	close(stop)
	wg.Wait()
	cmd := start()
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	waitTotal(t, s, sent.Load(), 60*time.Second)
	t.Logf("%d rounds of SIGKILL; counted after each kill: %v; final %d = sent", rounds, progress, sent.Load())
	moved := 0
	for i := 1; i < len(progress); i++ {
		if progress[i] > progress[i-1] {
			moved++
		}
	}
	if moved < rounds/2 {
		t.Fatalf("the consumer made progress in only %d of %d rounds: kills did not hit a working consumer", moved, rounds)
	}
}

// BenchmarkConsume measures events/s from Kafka (kfake, same machine) into
// Redis: b.N batches of 1000 events are published first, then one member
// consumes them with the default batch size and linger.
func BenchmarkConsume(b *testing.B) {
	brokers, _, s, p := startKafkaRedis(b)
	for i := 0; i < b.N; i++ {
		p.publish(b, 1000)
	}
	m := aggregate.NewMetrics()
	cfg := testConfig(brokers)
	cfg.BatchSize, cfg.Linger = DefaultConsumerConfig().BatchSize, DefaultConsumerConfig().Linger
	c, err := NewConsumer(context.Background(), cfg, s, m, aggregate.NewBrake(nil), quiet())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	want := float64(b.N * 1000)
	for testutil.ToFloat64(m.Applied) < want {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(want/b.Elapsed().Seconds(), "events/s")
}

// TestMembership: in a group with more members than partitions, one member
// holds the partition and the other is in the group with none (idle); the
// gauge says how many each holds. When the holder leaves, the idle one
// takes the partition over.
func TestMembership(t *testing.T) {
	k := kafkatest.MustStart(t, kafkatest.Options{Brokers: 1, Partitions: 1})
	srv := redistest.MustStart(t, redistest.Options{})
	s := newStore(t, srv.Addr())
	a := startMember(t, k.ListenAddrs(), s)
	b := startMember(t, k.ListenAddrs(), s)
	gauge := func(mb *member) float64 {
		t.Helper()
		cs := mb.c.Collectors()
		if len(cs) != 1 {
			t.Fatalf("%d collectors, want the partitions gauge", len(cs))
		}
		if n, err := testutil.GatherAndCount(gatherer(cs[0]), "qredge_analytics_partitions_assigned"); err != nil || n != 1 {
			t.Fatalf("qredge_analytics_partitions_assigned: %d series (%v)", n, err)
		}
		return testutil.ToFloat64(cs[0])
	}
	testwait.For(t, 30*time.Second, "both members in the group and the one partition assigned", func() bool {
		return a.c.Membership().InGroup && b.c.Membership().InGroup && len(a.c.Assigned())+len(b.c.Assigned()) == 1
	})
	holder, idle := a, b
	if len(b.c.Assigned()) == 1 {
		holder, idle = b, a
	}
	if m := idle.c.Membership(); len(m.Partitions) != 0 || m.Generation == 0 || gauge(idle) != 0 {
		t.Fatalf("idle member: %+v, gauge %v", m, gauge(idle))
	}
	if gauge(holder) != 1 {
		t.Fatalf("holder's gauge %v, want 1", gauge(holder))
	}
	holder.stop()
	if m := holder.c.Membership(); m.InGroup || len(m.Partitions) != 0 || gauge(holder) != 0 {
		t.Fatalf("a member that left: %+v, gauge %v", m, gauge(holder))
	}
	testwait.For(t, 60*time.Second, "the idle member to take the partition over", func() bool { return len(idle.c.Assigned()) == 1 })
	if gauge(idle) != 1 {
		t.Fatalf("gauge after the takeover %v, want 1", gauge(idle))
	}
}

// gatherer registers c in a registry of its own.
func gatherer(c prometheus.Collector) prometheus.Gatherer {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg
}
