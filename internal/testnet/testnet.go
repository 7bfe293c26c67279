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
// Test binaries of several packages run side by side, and a port a test
// has stopped its server on looks free to the others: each port this
// package hands out is also claimed for the life of the test process (a
// lock file under the temporary directory), and no other process picks
// it, so a stopped server's port stays its own.
//
// It must never be imported by non-test code.
package testnet

import (
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
		if free(p) && allFree(p, also) && claim(p) {
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

// claims holds the lock files of the ports this process picked, open
// until it exits (the kernel then releases the locks).
var (
	claimsMu sync.Mutex
	claims   = map[int]*os.File{}
)

// claim locks port p for this process; it reports false when another
// process holds it. Where locks cannot be taken, the port is not claimed
// and counts as free.
func claim(p int) bool {
	claimsMu.Lock()
	defer claimsMu.Unlock()
	if claims[p] != nil {
		return false // picked before by this process
	}
	dir := filepath.Join(os.TempDir(), "qredge-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	claims[p] = f
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
