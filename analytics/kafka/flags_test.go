package kafka

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/cli/clitest"
)

func TestConfigFlags(t *testing.T) {
	f := func(args []string, want []string, wantErr string) {
		t.Helper()
		c := DefaultConsumerConfig()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs)
		err := fs.Parse(args)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%q: error %v, want %q", args, err, wantErr)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(c.Kafka.Brokers, want) {
			t.Fatalf("%q: brokers %q, error %v; want %q", args, c.Kafka.Brokers, err, want)
		}
	}
	f(nil, nil, "")
	f([]string{"--kafka", ""}, nil, "")
	f([]string{"--kafka", "a:1, b:2,"}, []string{"a:1", "b:2"}, "")
	f([]string{"--kafka", " , "}, nil, "no broker")
}

func TestConsumerTimeouts(t *testing.T) {
	f := func(session, hb, rebalance, wantHB, wantRebalance time.Duration) {
		t.Helper()
		c := ConsumerConfig{SessionTimeout: session, HeartbeatInterval: hb, RebalanceTimeout: rebalance}
		if gotHB, gotRebalance := c.timeouts(); gotHB != wantHB || gotRebalance != wantRebalance {
			t.Fatalf("session %s: heartbeat %s, rebalance %s; want %s, %s", session, gotHB, gotRebalance, wantHB, wantRebalance)
		}
	}
	f(10*time.Second, 0, 0, time.Second, 10*time.Second)
	f(time.Minute, 0, 0, time.Second, 10*time.Second)
	f(time.Second, 0, 0, 200*time.Millisecond, 2*time.Second)
	f(time.Second, 100*time.Millisecond, 3*time.Second, 100*time.Millisecond, 3*time.Second)
}

// wantCheck fails t unless c's Check, after change, returns nil for an
// empty wantErr and an error containing wantErr otherwise.
func wantCheck[C interface{ Check() error }](t *testing.T, c C, change func(*C), wantErr string) {
	t.Helper()
	change(&c)
	clitest.WantErr(t, "Check", c.Check(), wantErr)
}

func TestConsumerCheck(t *testing.T) {
	c := DefaultConsumerConfig()
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	wantCheck(t, c, func(*ConsumerConfig) {}, "")
	wantCheck(t, c, func(c *ConsumerConfig) { c.Kafka.Brokers = nil }, "--kafka is required")
	wantCheck(t, c, func(c *ConsumerConfig) { c.SessionTimeout = 400 * time.Millisecond }, "--kafka-session-timeout must be at least 500ms")
	wantCheck(t, c, func(c *ConsumerConfig) { c.SessionTimeout = 500 * time.Millisecond }, "")
	wantCheck(t, c, func(c *ConsumerConfig) { c.HeartbeatInterval = 6 * time.Second }, "twice the heartbeat interval")
	wantCheck(t, c, func(c *ConsumerConfig) { c.Group = "" }, "--kafka-group")
}

func TestWriterCheck(t *testing.T) {
	c := DefaultWriterConfig()
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	wantCheck(t, c, func(*WriterConfig) {}, "")
	wantCheck(t, c, func(c *WriterConfig) { c.WriteTimeout = time.Millisecond }, "--kafka-write-timeout must be at least 10ms")
	wantCheck(t, c, func(c *WriterConfig) { c.BatchSize = 0 }, "--kafka-batch-size must be at least 1")
	wantCheck(t, c, func(c *WriterConfig) { c.Acks = "some" }, "--kafka-acks")
	wantCheck(t, c, func(c *WriterConfig) { c.Kafka.SASLMech = "x" }, "--kafka-sasl")
}
