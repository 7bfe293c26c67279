// Package kafkatest starts Kafka for tests: franz-go's kfake, a real Kafka
// wire-protocol broker cluster in the test process, on loopback ports. Tests
// never use a Kafka mock below the wire protocol, and need no Kafka
// installed.
package kafkatest

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Topic is the scan topic the cluster is seeded with.
const Topic = "qredge.scans"

// Options for a cluster. The zero value is three brokers and a topic of
// six partitions on free ports.
type Options struct {
	Brokers    int   // 0: 3
	Partitions int   // of Topic; 0: 6
	Ports      []int // one per broker, for a cluster restarted on the same ports; nil: free ports
}

// MustStart starts a cluster and closes it when the test ends (closing it
// earlier is fine). Its groups accept session timeouts down to 500 ms, so a
// consumer-group member that dies is noticed in a second.
func MustStart(tb testing.TB, opt Options) *kfake.Cluster {
	tb.Helper()
	if opt.Brokers <= 0 {
		opt.Brokers = 3
	}
	if opt.Partitions <= 0 {
		opt.Partitions = 6
	}
	opts := []kfake.Opt{kfake.NumBrokers(opt.Brokers), kfake.SeedTopics(int32(opt.Partitions), Topic),
		kfake.GroupMinSessionTimeout(500 * time.Millisecond)}
	if len(opt.Ports) > 0 {
		opts = append(opts, kfake.Ports(opt.Ports...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}
