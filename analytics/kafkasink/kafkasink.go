// Package kafkasink publishes scan events to Kafka with
// github.com/segmentio/kafka-go. It and analytics/kafkaconsumer are the
// only packages that import kafka-go. Events are spread over partitions by
// event id (see Balancer), never keyed by code, so one viral code cannot
// pin one partition.
package kafkasink

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/qredge/qredge/analytics"
)

// Config configures the sink.
type Config struct {
	Brokers     []string
	Topic       string
	Compression string // none, gzip, snappy, lz4, zstd
	// BatchSize bounds the messages of one produce request per
	// partition. The pipeline batches events before Publish, and each
	// Publish call is sent at once: the Writer does not wait to fill
	// batches (see flushAfter).
	BatchSize    int
	Acks         string // all, one, none
	TLS          bool
	SASLMech     string // "", plain, scram-sha-256, scram-sha-512
	SASLUser     string
	SASLPassword string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Topic: "qredge.scans", Compression: "snappy", BatchSize: 1000, Acks: "all"}
}

// Sink implements analytics.Sink.
type Sink struct {
	w    *kafka.Writer
	msgs sync.Pool // *[]kafka.Message, reused by Publish
}

// flushAfter is the Writer's BatchTimeout. kafka-go keeps a partition's
// batch open until it holds BatchSize messages or BatchTimeout passes, and
// a synchronous WriteMessages waits for that: with a 1,000-event Publish
// spread over the partitions no batch fills, so every Publish waited the
// whole timeout (10 ms was the default), the pipeline fell behind under
// load and spooled events it could have sent (17% of them at 95,000
// scans/s on one core). The messages of one call are assigned to their
// batches under the partition's lock, so a timeout this short still sends
// each call's messages as one request per partition, at once.
const flushAfter = time.Microsecond

// ParseBrokers splits a --kafka value.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Check returns an error naming the first invalid setting, without
// connecting or building anything.
func (cfg Config) Check() error {
	_, _, _, err := cfg.parse()
	return err
}

// parse turns the settings into kafka-go values.
func (cfg Config) parse() (compress.Compression, kafka.RequiredAcks, sasl.Mechanism, error) {
	if len(cfg.Brokers) == 0 {
		return 0, 0, nil, errors.New("no Kafka brokers")
	}
	if cfg.Topic == "" {
		return 0, 0, nil, errors.New("--kafka-topic is empty")
	}
	var codec compress.Compression
	switch cfg.Compression {
	case "none", "":
	case "gzip":
		codec = compress.Gzip
	case "snappy":
		codec = compress.Snappy
	case "lz4":
		codec = compress.Lz4
	case "zstd":
		codec = compress.Zstd
	default:
		return 0, 0, nil, fmt.Errorf("--kafka-compression %q: want none, gzip, snappy, lz4 or zstd", cfg.Compression)
	}
	var acks kafka.RequiredAcks
	switch cfg.Acks {
	case "all", "":
		acks = kafka.RequireAll
	case "one":
		acks = kafka.RequireOne
	case "none":
		acks = kafka.RequireNone
	default:
		return 0, 0, nil, fmt.Errorf("--kafka-acks %q: want all, one or none", cfg.Acks)
	}
	var mech sasl.Mechanism
	switch cfg.SASLMech {
	case "":
	case "plain":
		mech = plain.Mechanism{Username: cfg.SASLUser, Password: cfg.SASLPassword}
	case "scram-sha-256", "scram-sha-512":
		alg := scram.SHA256
		if cfg.SASLMech == "scram-sha-512" {
			alg = scram.SHA512
		}
		m, err := scram.Mechanism(alg, cfg.SASLUser, cfg.SASLPassword)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("SASL: %w", err)
		}
		mech = m
	default:
		return 0, 0, nil, fmt.Errorf("--kafka-sasl %q: want plain, scram-sha-256 or scram-sha-512", cfg.SASLMech)
	}
	return codec, acks, mech, nil
}

// Dialer returns a kafka-go dialer with cfg's TLS and SASL settings, for
// consumers.
func (cfg Config) Dialer() (*kafka.Dialer, error) {
	_, _, mech, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	d := &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true, SASLMechanism: mech}
	if cfg.TLS {
		d.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return d, nil
}

// New returns a sink for cfg. It does not connect until the first publish.
func New(cfg Config) (*Sink, error) {
	codec, acks, mech, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	tr := &kafka.Transport{DialTimeout: 5 * time.Second, SASL: mech}
	if cfg.TLS {
		tr.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultConfig().BatchSize
	}
	return &Sink{w: &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &Balancer{},
		BatchSize:    cfg.BatchSize,
		BatchBytes:   16 << 20,
		BatchTimeout: flushAfter,
		RequiredAcks: acks,
		Compression:  codec,
		Transport:    tr,
		MaxAttempts:  3,
	}}, nil
}

// Balancer partitions messages by event id (the message key): each run of
// analytics.IDChunk consecutive ids of one producer goes to one partition,
// chosen by hash. Load spreads over every partition even when all scans
// hit one code, and a duplicate of an event (a batch sent again after a
// timeout) lands in the partition of the original, where the aggregator's
// per-partition dedupe finds it. Messages without an id go round robin.
type Balancer struct{ rr kafka.RoundRobin }

// Balance implements kafka.Balancer.
func (b *Balancer) Balance(msg kafka.Message, partitions ...int) int {
	if len(msg.Key) != 16 {
		return b.rr.Balance(msg, partitions...)
	}
	var buf [16]byte
	copy(buf[:8], msg.Key[:8])
	binary.BigEndian.PutUint64(buf[8:], binary.BigEndian.Uint64(msg.Key[8:])/analytics.IDChunk)
	return partitions[xxhash.Sum64(buf[:])%uint64(len(partitions))]
}

// schemaHeaders are every message's headers; kafka-go only reads them.
var schemaHeaders = []kafka.Header{{Key: "qredge-schema", Value: []byte(analytics.SchemaName)}}

// Publish implements analytics.Sink: it returns nil only when Kafka
// acknowledged every record.
func (s *Sink) Publish(ctx context.Context, records [][]byte) error {
	buf, _ := s.msgs.Get().(*[]kafka.Message)
	if buf == nil {
		buf = new([]kafka.Message)
	}
	defer func() {
		clear(*buf) // no record kept alive by the pool
		s.msgs.Put(buf)
	}()
	if cap(*buf) < len(records) {
		*buf = make([]kafka.Message, len(records))
	}
	msgs := (*buf)[:len(records)]
	for i, r := range records {
		msgs[i] = kafka.Message{Value: r, Headers: schemaHeaders}
		msgs[i].Key = analytics.EventIDBytes(r) // nil: none, round robin
	}
	// Retry only the messages Kafka did not acknowledge, so a partly
	// written batch does not write its acknowledged messages twice.
	for attempt := 0; ; attempt++ {
		err := s.w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		var werrs kafka.WriteErrors
		if !errors.As(err, &werrs) || ctx.Err() != nil || attempt >= 5 {
			return fmt.Errorf("kafka: %w", err)
		}
		failed := msgs[:0:0]
		for i, e := range werrs {
			if e != nil {
				failed = append(failed, msgs[i])
			}
		}
		if len(failed) == 0 {
			return nil
		}
		msgs = failed
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: %w", err)
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
}

// CloseTimeout bounds Close: kafka-go's Writer.Close waits for every write
// it still has in flight, and a write to a stalled broker (one that
// accepts the connection and never answers) runs until the Writer's own
// timeouts and attempts are spent, tens of seconds. Publish has already
// returned an error for such a write and its events are in the spool, so
// Close gives up on it after CloseTimeout.
const CloseTimeout = 2 * time.Second

// Close flushes and closes the writer, waiting at most CloseTimeout for
// writes still in flight.
func (s *Sink) Close() error { return s.closeWithin(CloseTimeout) }

func (s *Sink) closeWithin(d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- s.w.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("kafka: writer still busy %s after close (broker not answering); its unacknowledged writes were abandoned", d)
	}
}
