package kafka

import (
	"errors"
	"flag"
	"strings"
)

// RegisterFlags adds the connection flags the edge's writer and the
// analytics consumer share, bound to cfg: --kafka, --kafka-topic,
// --kafka-tls, --kafka-sasl, --kafka-user and --kafka-password.
func (cfg *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*brokersFlag)(&cfg.Brokers), "kafka", "Kafka brokers of scan events, comma-separated: edges write events there (without it an edge keeps them in its spool) and analytics reads them")
	fs.StringVar(&cfg.Topic, "kafka-topic", cfg.Topic, "topic of scan events")
	fs.BoolVar(&cfg.TLS, "kafka-tls", cfg.TLS, "connect to Kafka with TLS")
	fs.StringVar(&cfg.SASLMech, "kafka-sasl", cfg.SASLMech, "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&cfg.SASLUser, "kafka-user", cfg.SASLUser, "SASL user")
	fs.StringVar(&cfg.SASLPassword, "kafka-password", cfg.SASLPassword, "SASL password; prefer the environment variable")
}

// Enabled reports whether brokers are set: Kafka is optional on an edge.
func (cfg Config) Enabled() bool { return len(cfg.Brokers) > 0 }

// RegisterFlags adds the edge's Kafka flags, bound to cfg: the shared
// connection flags (Config.RegisterFlags), and --kafka-compression,
// --kafka-batch-size, --kafka-linger, --kafka-write-timeout and
// --kafka-acks.
func (cfg *WriterConfig) RegisterFlags(fs *flag.FlagSet) {
	cfg.Kafka.RegisterFlags(fs)
	fs.StringVar(&cfg.Compression, "kafka-compression", cfg.Compression, "none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&cfg.BatchSize, "kafka-batch-size", cfg.BatchSize, "events per Kafka batch")
	fs.DurationVar(&cfg.Linger, "kafka-linger", cfg.Linger, "longest wait to fill a batch of events (up to --kafka-batch-size) before it is sent to Kafka")
	fs.DurationVar(&cfg.WriteTimeout, "kafka-write-timeout", cfg.WriteTimeout, "how long one Kafka write may take before its events go to the spool")
	fs.StringVar(&cfg.Acks, "kafka-acks", cfg.Acks, "acknowledgements: all, one or none")
}

// RegisterFlags adds the flags of a consumer group member, bound to cfg:
// the shared connection flags (Config.RegisterFlags), and --kafka-group,
// --kafka-session-timeout, --batch-size, --linger and --start-latest.
func (cfg *ConsumerConfig) RegisterFlags(fs *flag.FlagSet) {
	cfg.Kafka.RegisterFlags(fs)
	fs.StringVar(&cfg.Group, "kafka-group", cfg.Group, "consumer group: processes with the same group share the partitions")
	fs.DurationVar(&cfg.SessionTimeout, "kafka-session-timeout", cfg.SessionTimeout, "how long the group waits for a silent member before giving its partitions to others")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "most events applied to Redis in one batch (per partition)")
	fs.DurationVar(&cfg.Linger, "linger", cfg.Linger, "longest wait to fill a batch; adds to the freshness of stats")
	fs.BoolVar(&cfg.StartLatest, "start-latest", cfg.StartLatest, "partitions with no stored offset start at their end instead of their beginning")
}

// brokersFlag is --kafka: comma-separated brokers into Config.Brokers. An
// empty value means none; a value that names none is refused.
type brokersFlag []string

func (b *brokersFlag) String() string { return strings.Join(*b, ",") }

func (b *brokersFlag) Set(s string) error {
	*b = ParseBrokers(s)
	if len(*b) == 0 && s != "" {
		return errors.New("no broker")
	}
	return nil
}
