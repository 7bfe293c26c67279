// Command kfakeserver runs an in-memory Kafka wire-protocol broker
// cluster (github.com/twmb/franz-go/pkg/kfake) for benchmarks on machines
// without Kafka: make bench-compare runs qredge edges against it. It
// prints "listening <addr,addr,...>" and serves until SIGINT or SIGTERM.
// Data lives in memory only; never use it for anything but tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	brokers := flag.Int("brokers", 1, "brokers in the cluster")
	partitions := flag.Int("partitions", 6, "partitions of the topic")
	topic := flag.String("topic", "qredge.scans", "topic to create")
	flag.Parse()
	c, err := kfake.NewCluster(kfake.NumBrokers(*brokers), kfake.SeedTopics(int32(*partitions), *topic))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println("listening", strings.Join(c.ListenAddrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
