package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/internal/defaults"
)

// WriterConfig configures a Writer. Get defaults from DefaultWriterConfig.
type WriterConfig struct {
	Kafka       Config // brokers, topic, TLS and SASL
	Compression string // none, gzip, snappy, lz4, zstd
	// BatchSize bounds the messages of one produce request per
	// partition. The pipeline batches events before Publish, and each
	// Publish call is sent at once: the kafka-go Writer does not wait to
	// fill batches (see flushAfter).
	BatchSize int
	Acks      string // all, one, none
	// Linger and WriteTimeout are not the Writer's but the batching of
	// the pipeline in front of it (PipelineConfig): how long a batch
	// waits to fill, and how long one Publish may take before the batch
	// goes to the spool.
	Linger       time.Duration
	WriteTimeout time.Duration
}

// DefaultWriterConfig returns the defaults.
func DefaultWriterConfig() WriterConfig {
	return WriterConfig{Kafka: DefaultConfig(), Compression: "snappy", BatchSize: 1000, Acks: "all",
		Linger: 10 * time.Millisecond, WriteTimeout: analytics.DefaultConfig().PublishTimeout}
}

// PipelineConfig returns pc set to feed this writer: batches of BatchSize
// events, sent after Linger at most, each write given WriteTimeout.
func (cfg WriterConfig) PipelineConfig(pc analytics.Config) analytics.Config {
	pc.BatchSize, pc.Linger, pc.PublishTimeout = cfg.BatchSize, cfg.Linger, cfg.WriteTimeout
	return pc
}

// Writer publishes scan events to the topic; it implements analytics.Sink.
type Writer struct {
	w    *kafkago.Writer
	msgs sync.Pool // *[]kafkago.Message, reused by Publish
}

// flushAfter is the kafka-go Writer's BatchTimeout. kafka-go keeps a
// partition's batch open until it holds BatchSize messages or BatchTimeout
// passes, and a synchronous WriteMessages waits for that: with a
// 1,000-event Publish spread over the partitions no batch fills, so every
// Publish waited the whole timeout (10 ms was the default), the pipeline
// fell behind under load and spooled events it could have sent (17% of
// them at 95,000 scans/s on one core). The messages of one call are
// assigned to their batches under the partition's lock, so a timeout this
// short still sends each call's messages as one request per partition, at
// once.
const flushAfter = time.Microsecond

// Check returns an error naming the first invalid setting, without
// connecting or building anything.
func (cfg WriterConfig) Check() error {
	if cfg.WriteTimeout < 10*time.Millisecond {
		return errors.New("--kafka-write-timeout must be at least 10ms")
	}
	if cfg.BatchSize < 1 {
		return errors.New("--kafka-batch-size must be at least 1")
	}
	_, _, err := cfg.parse()
	if err == nil {
		_, err = cfg.Kafka.mechanism()
	}
	return err
}

// compressions and requiredAcks are the values of --kafka-compression and
// --kafka-acks; "" is the default.
var (
	compressions = map[string]compress.Compression{"": 0, "none": 0, "gzip": compress.Gzip,
		"snappy": compress.Snappy, "lz4": compress.Lz4, "zstd": compress.Zstd}
	requiredAcks = map[string]kafkago.RequiredAcks{"": kafkago.RequireAll, "all": kafkago.RequireAll,
		"one": kafkago.RequireOne, "none": kafkago.RequireNone}
)

// parse turns the writer's own settings into kafka-go values, after
// checking the brokers and topic.
func (cfg WriterConfig) parse() (compress.Compression, kafkago.RequiredAcks, error) {
	if err := cfg.Kafka.checkTarget(); err != nil {
		return 0, 0, err
	}
	codec, ok := compressions[cfg.Compression]
	if !ok {
		return 0, 0, fmt.Errorf("--kafka-compression %q: want none, gzip, snappy, lz4 or zstd", cfg.Compression)
	}
	acks, ok := requiredAcks[cfg.Acks]
	if !ok {
		return 0, 0, fmt.Errorf("--kafka-acks %q: want all, one or none", cfg.Acks)
	}
	return codec, acks, nil
}

// NewWriter returns a writer for cfg. It does not connect until the first
// publish.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	codec, acks, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	tr, err := cfg.Kafka.transport()
	if err != nil {
		return nil, err
	}
	defaults.Positive(&cfg.BatchSize, DefaultWriterConfig().BatchSize)
	return &Writer{w: &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Kafka.Brokers...),
		Topic:        cfg.Kafka.Topic,
		Balancer:     &Balancer{},
		BatchSize:    cfg.BatchSize,
		BatchBytes:   16 << 20,
		BatchTimeout: flushAfter,
		RequiredAcks: acks,
		Compression:  codec,
		Transport:    tr,
		MaxAttempts:  1, // Publish retries (maxAttempts)
	}}, nil
}

// maxAttempts is how many times Publish writes the messages Kafka has not
// acknowledged, within its context, before it fails and the pipeline
// spools the batch. It is the only retry layer: kafka-go's own (the
// Writer's MaxAttempts) would multiply it, and would go on retrying in the
// background after the context ended, when the events are already in the
// spool.
const maxAttempts = 6

// Balancer partitions messages by event id (the message key): each run of
// analytics.IDChunk consecutive ids of one producer goes to one partition,
// chosen by hash. Load spreads over every partition even when all scans
// hit one code, and a duplicate of an event (a batch sent again after a
// timeout) lands in the partition of the original, where the aggregator's
// per-partition dedupe finds it. Messages without an id go round robin.
type Balancer struct{ rr kafkago.RoundRobin }

// Balance implements kafka-go's Balancer.
func (b *Balancer) Balance(msg kafkago.Message, partitions ...int) int {
	if len(msg.Key) != 16 {
		return b.rr.Balance(msg, partitions...)
	}
	var buf [16]byte
	copy(buf[:8], msg.Key[:8])
	binary.BigEndian.PutUint64(buf[8:], binary.BigEndian.Uint64(msg.Key[8:])/analytics.IDChunk)
	return partitions[xxhash.Sum64(buf[:])%uint64(len(partitions))]
}

// schemaHeaders are every message's headers; kafka-go only reads them.
var schemaHeaders = []kafkago.Header{{Key: "qredge-schema", Value: []byte(analytics.SchemaName)}}

// Publish implements analytics.Sink: it returns nil only when Kafka
// acknowledged every record.
func (w *Writer) Publish(ctx context.Context, records []analytics.Record) error {
	buf, _ := w.msgs.Get().(*[]kafkago.Message)
	if buf == nil {
		buf = new([]kafkago.Message)
	}
	defer func() {
		clear(*buf) // no record kept alive by the pool
		w.msgs.Put(buf)
	}()
	if cap(*buf) < len(records) {
		*buf = make([]kafkago.Message, len(records))
	}
	msgs := (*buf)[:len(records)]
	for i, r := range records {
		msgs[i] = kafkago.Message{Key: r.Key, Value: r.Value, Headers: schemaHeaders} // no key: round robin
	}
	// Retry only the messages Kafka did not acknowledge, so a partly
	// written batch does not write its acknowledged messages twice.
	for attempt := 1; ; attempt++ {
		err := w.w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		var werrs kafkago.WriteErrors
		if !errors.As(err, &werrs) || ctx.Err() != nil || attempt >= maxAttempts {
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
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}

// CloseTimeout bounds Close: the kafka-go Writer's Close waits for every write
// it still has in flight, and a write to a stalled broker (one that
// accepts the connection and never answers) runs until the Writer's own
// timeouts and attempts are spent, tens of seconds. Publish has already
// returned an error for such a write and its events are in the spool, so
// Close gives up on it after CloseTimeout.
const CloseTimeout = 2 * time.Second

// Close flushes and closes the writer, waiting at most CloseTimeout for
// writes still in flight.
func (w *Writer) Close() error { return w.closeWithin(CloseTimeout) }

func (w *Writer) closeWithin(d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- w.w.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("kafka: writer still busy %s after close (broker not answering); its unacknowledged writes were abandoned", d)
	}
}
