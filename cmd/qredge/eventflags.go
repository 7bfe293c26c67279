package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/kafka"
	"github.com/qredge/qredge/redirect"
)

// EventFlags configure scan events: the spool, and Kafka when --kafka is
// set.
type EventFlags struct {
	Kafka            string
	KafkaTopic       string
	KafkaCompression string
	KafkaBatchSize   int64
	KafkaLinger      time.Duration
	KafkaTimeout     time.Duration
	KafkaAcks        string
	KafkaTLS         bool
	KafkaSASL        string
	KafkaUser        string
	KafkaPassword    string
	SpoolDir         string
	SpoolMaxBytes    int64
	IPHashSecret     string
	NodeID           string
}

func defaultEventFlags(spoolDir string) EventFlags {
	k := kafka.DefaultWriterConfig()
	return EventFlags{KafkaTopic: k.Kafka.Topic, KafkaCompression: k.Compression, KafkaBatchSize: int64(k.BatchSize),
		KafkaLinger: 10 * time.Millisecond, KafkaTimeout: analytics.DefaultConfig().PublishTimeout, KafkaAcks: k.Acks, SpoolDir: spoolDir, SpoolMaxBytes: analytics.DefaultConfig().SpoolMaxBytes}
}

func (c *EventFlags) register(fs flagRegistrar, withKafka bool) {
	if withKafka {
		fs.StringVar(&c.Kafka, "kafka", c.Kafka, "Kafka brokers for scan events, comma-separated; without it events stay in the spool")
		fs.StringVar(&c.KafkaTopic, "kafka-topic", c.KafkaTopic, "topic of scan events")
		fs.StringVar(&c.KafkaCompression, "kafka-compression", c.KafkaCompression, "none, gzip, snappy, lz4 or zstd")
		fs.Int64Var(&c.KafkaBatchSize, "kafka-batch-size", c.KafkaBatchSize, "events per Kafka batch")
		fs.DurationVar(&c.KafkaLinger, "kafka-linger", c.KafkaLinger, "longest wait to fill a batch of events (up to --kafka-batch-size) before it is sent to Kafka")
		fs.DurationVar(&c.KafkaTimeout, "kafka-write-timeout", c.KafkaTimeout, "how long one Kafka write may take before its events go to the spool")
		fs.StringVar(&c.KafkaAcks, "kafka-acks", c.KafkaAcks, "acknowledgements: all, one or none")
		fs.BoolVar(&c.KafkaTLS, "kafka-tls", c.KafkaTLS, "connect to Kafka with TLS")
		fs.StringVar(&c.KafkaSASL, "kafka-sasl", c.KafkaSASL, "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
		fs.StringVar(&c.KafkaUser, "kafka-user", c.KafkaUser, "SASL user")
		fs.StringVar(&c.KafkaPassword, "kafka-password", c.KafkaPassword, "SASL password; prefer the environment variable")
	}
	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir, "directory of the event spool (events waiting for Kafka, or all events without it)")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "cap of the spool; events beyond it are dropped and counted")
	fs.StringVar(&c.IPHashSecret, "ip-hash-secret", c.IPHashSecret, "secret for hashing client IPs, the same on every edge (unique visitors across edges); default: random per process")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name in events (default: the host name)")
}

// Check returns an error naming the first invalid setting.
func (c *EventFlags) Check() error {
	if c.SpoolDir == "" {
		return errors.New("--spool-dir must not be empty")
	}
	if c.SpoolMaxBytes < 1<<20 {
		return errors.New("--spool-max-bytes must be at least 1 MiB")
	}
	if c.Kafka != "" {
		if c.KafkaTimeout < 10*time.Millisecond {
			return errors.New("--kafka-write-timeout must be at least 10ms")
		}
		sc, err := c.sinkConfig()
		if err != nil {
			return err
		}
		return sc.Check()
	}
	return nil
}

func (c *EventFlags) sinkConfig() (kafka.WriterConfig, error) {
	brokers := kafka.ParseBrokers(c.Kafka)
	if len(brokers) == 0 {
		return kafka.WriterConfig{}, fmt.Errorf("--kafka %q: no broker", c.Kafka)
	}
	if c.KafkaBatchSize < 1 {
		return kafka.WriterConfig{}, errors.New("--kafka-batch-size must be at least 1")
	}
	return kafka.WriterConfig{Kafka: kafka.Config{Brokers: brokers, Topic: c.KafkaTopic, TLS: c.KafkaTLS, SASLMech: c.KafkaSASL, SASLUser: c.KafkaUser, SASLPassword: c.KafkaPassword},
		Compression: c.KafkaCompression, BatchSize: int(c.KafkaBatchSize), Acks: c.KafkaAcks}, nil
}

// start starts the event pipeline (with Kafka when configured). countries
// (may be nil) gives the batcher the country of client IPs the hot path
// did not look up itself.
func (c *EventFlags) start(log *slog.Logger, countries redirect.CountryLookup) (*analytics.Pipeline, *kafka.Writer, error) {
	pc := analytics.DefaultConfig()
	pc.Enrich = redirect.EventEnricher(countries)
	pc.SpoolDir, pc.SpoolMaxBytes = c.SpoolDir, c.SpoolMaxBytes
	pc.Edge = c.NodeID
	if pc.Edge == "" {
		pc.Edge, _ = os.Hostname()
	}
	if c.IPHashSecret != "" {
		pc.IPHashSecret = []byte(c.IPHashSecret)
	} else {
		b := make([]byte, 32)
		rand.Read(b)
		pc.IPHashSecret = []byte(hex.EncodeToString(b))
	}
	var sink *kafka.Writer
	var s analytics.Sink
	if c.Kafka != "" {
		sc, err := c.sinkConfig()
		if err != nil {
			return nil, nil, err
		}
		if sink, err = kafka.NewWriter(sc); err != nil {
			return nil, nil, err
		}
		s = sink
		pc.BatchSize, pc.Linger = int(c.KafkaBatchSize), c.KafkaLinger
		pc.PublishTimeout = c.KafkaTimeout
		log.Info("scan events go to Kafka", "brokers", c.Kafka, "topic", c.KafkaTopic)
	}
	p, err := analytics.Start(pc, s, log)
	if err != nil {
		if sink != nil {
			sink.Close()
		}
		return nil, nil, err
	}
	return p, sink, nil
}

func registerEventMetrics(reg *prometheus.Registry, p *analytics.Pipeline) {
	desc := prometheus.NewDesc("qredge_events_total", "Scan events by what happened to them.", []string{"stage"}, nil)
	reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		st := p.Stats()
		for _, r := range []struct {
			name string
			v    uint64
		}{{"enqueued", st.Enqueued.Load()}, {"published", st.Published.Load()}, {"spooled", st.Spooled.Load()},
			{"replayed", st.Replayed.Load()}} {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(r.v), r.name)
		}
	}})
	dropped := prometheus.NewDesc("qredge_events_dropped_total", "Scan events lost, by reason (should stay 0).", []string{"reason"}, nil)
	reg.MustRegister(collectorFunc{desc: dropped, collect: func(ch chan<- prometheus.Metric) {
		st := p.Stats()
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(st.QueueFull.Load()), "queue_full")
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(st.SpoolDropped.Load()), "spool_full")
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(st.DiskFull.Load()), "disk_full")
	}})
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_event_queue_depth", Help: "Scan events waiting in memory."},
			func() float64 { return float64(p.Queue().Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_spool_bytes", Help: "Bytes of scan events in the spool."},
			func() float64 { return float64(p.Spool().Size()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_spool_corrupt_bytes_total", Help: "Bytes of damaged spool records discarded."},
			func() float64 { return float64(p.Stats().Corrupt.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_write_errors_total", Help: "Failed Kafka writes (events then go to the spool)."},
			func() float64 { return float64(p.Stats().PublishErrors.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_write_seconds_total", Help: "Time spent in successful Kafka writes; divide by qredge_kafka_writes_total for the mean latency."},
			func() float64 { return float64(p.Stats().PublishNanos.Load()) / 1e9 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_kafka_writes_total", Help: "Successful Kafka writes."},
			func() float64 { return float64(p.Stats().Publishes.Load()) }),
	)
}
