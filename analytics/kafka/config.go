package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Config is what the writer and the consumer share: the brokers, the
// topic, and how to connect (TLS, SASL).
type Config struct {
	Brokers      []string
	Topic        string
	TLS          bool
	SASLMech     string // "", plain, scram-sha-256, scram-sha-512
	SASLUser     string
	SASLPassword string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Topic: "qredge.scans"}
}

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
// connecting.
func (cfg Config) Check() error {
	if err := cfg.checkTarget(); err != nil {
		return err
	}
	_, err := cfg.mechanism()
	return err
}

// checkTarget checks the brokers and the topic.
func (cfg Config) checkTarget() error {
	if len(cfg.Brokers) == 0 {
		return errors.New("no Kafka brokers")
	}
	if cfg.Topic == "" {
		return errors.New("--kafka-topic is empty")
	}
	return nil
}

// mechanism returns the SASL mechanism, nil for none.
func (cfg Config) mechanism() (sasl.Mechanism, error) {
	switch cfg.SASLMech {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: cfg.SASLUser, Password: cfg.SASLPassword}, nil
	case "scram-sha-256", "scram-sha-512":
		alg := scram.SHA256
		if cfg.SASLMech == "scram-sha-512" {
			alg = scram.SHA512
		}
		m, err := scram.Mechanism(alg, cfg.SASLUser, cfg.SASLPassword)
		if err != nil {
			return nil, fmt.Errorf("SASL: %w", err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("--kafka-sasl %q: want plain, scram-sha-256 or scram-sha-512", cfg.SASLMech)
	}
}

func (cfg Config) tlsConfig() *tls.Config {
	if !cfg.TLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// dialTimeout bounds connecting to a broker.
const dialTimeout = 5 * time.Second

// transport returns the connection settings of a kafka-go Writer.
func (cfg Config) transport() (*kafkago.Transport, error) {
	mech, err := cfg.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Transport{DialTimeout: dialTimeout, SASL: mech, TLS: cfg.tlsConfig()}, nil
}

// dialer returns the connection settings of kafka-go's consumer group and
// Readers.
func (cfg Config) dialer() (*kafkago.Dialer, error) {
	mech, err := cfg.mechanism()
	if err != nil {
		return nil, err
	}
	return &kafkago.Dialer{Timeout: dialTimeout, DualStack: true, SASLMechanism: mech, TLS: cfg.tlsConfig()}, nil
}
