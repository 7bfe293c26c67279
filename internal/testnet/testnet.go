// Package testnet picks loopback ports for test servers.
//
// A server that a test stops and starts again on the same port (a Redis
// restart, a Kafka outage) must not have its port taken in between. The
// kernel hands out ports for outgoing connections from its ephemeral
// range (net.ipv4.ip_local_port_range, 32768-60999 on Linux), so with
// other tests running side by side any port from ":0" can be reused as
// the local port of a connection while the server is down, and the
// restart fails with "address already in use". Ports from this package
// lie below that range, where only explicit binds go.
//
// It must never be imported by non-test code.
package testnet

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Range is where ports are picked: below the ephemeral range, above the
// well-known services.
const (
	RangeLow  = 10000
	RangeHigh = 32000
)

// FreePort returns a free loopback port below the ephemeral range; for
// each offset in also, port+offset is free and below it too (Redis
// Cluster's bus port is the port plus 10000).
func FreePort(tb testing.TB, also ...int) int {
	tb.Helper()
	maxOff := 0
	for _, o := range also {
		maxOff = max(maxOff, o)
	}
	for range 1000 {
		p := RangeLow + rand.IntN(RangeHigh-RangeLow-maxOff)
		if free(p) && allFree(p, also) {
			return p
		}
	}
	tb.Fatal("no free loopback port found below the ephemeral range")
	return 0
}

// FreePorts returns n distinct free ports (see FreePort).
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	seen := map[int]bool{}
	out := make([]int, 0, n)
	for len(out) < n {
		p := FreePort(tb)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func allFree(p int, offsets []int) bool {
	for _, o := range offsets {
		if !free(p + o) {
			return false
		}
	}
	return true
}

func free(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
