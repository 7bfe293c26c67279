// Command kfakeserver runs an in-memory Kafka wire-protocol broker
// cluster (github.com/twmb/franz-go/pkg/kfake) for benchmarks and the
// chaos suite on machines without Kafka: make bench-compare and make chaos
// run qredge edges against it. It prints "listening <addr,addr,...>" and
// serves until SIGINT or SIGTERM. Data lives in memory only; never use it
// for anything but tests.
//
// A slow broker, through kfake's control hooks: SIGUSR1 holds every
// Produce request for the first duration of -slow-produce before the
// broker handles it (requests on one connection are answered in order, so
// a producer's connection moves at one request per that duration); each
// further SIGUSR1 moves to the next duration of the list, and SIGUSR2 ends
// the slowness. Each switch is printed ("slow on", "slow off").
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	brokers := flag.Int("brokers", 1, "brokers in the cluster")
	partitions := flag.Int("partitions", 6, "partitions of the topic")
	topic := flag.String("topic", "qredge.scans", "topic to create")
	slowList := flag.String("slow-produce", "500ms,6s", "comma-separated: how long each Produce request is held after the first SIGUSR1, the second, ... (until SIGUSR2)")
	flag.Parse()
	var levels []time.Duration
	for _, v := range strings.Split(*slowList, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "kfakeserver: -slow-produce: %q is not a positive duration\n", v)
			os.Exit(2)
		}
		levels = append(levels, d)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(*brokers), kfake.SeedTopics(int32(*partitions), *topic))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	defer c.Close()
	var slow atomic.Int64 // the current hold in nanoseconds, 0 for none
	var held atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if d := time.Duration(slow.Load()); d > 0 {
			held.Add(1)
			c.SleepControl(func() { time.Sleep(d) })
		}
		// Not handled: the broker answers the request as usual, and the
		// control function stays for the next one.
		return nil, nil, false
	})
	fmt.Println("listening", strings.Join(c.ListenAddrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2)
	level := 0
	for s := range sig {
		switch s {
		case syscall.SIGUSR1:
			d := levels[min(level, len(levels)-1)]
			level++
			slow.Store(int64(d))
			fmt.Printf("slow on: each Produce request held %s\n", d)
		case syscall.SIGUSR2:
			slow.Store(0)
			level = 0
			fmt.Printf("slow off: %d Produce requests were held\n", held.Load())
		default:
			return
		}
	}
}
