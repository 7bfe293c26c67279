package testnet

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestFreePortIsClaimed: a picked port's lock is held for the process, so
// another test binary (another open of the lock file) cannot take it, and
// this process does not hand it out twice.
func TestFreePortIsClaimed(t *testing.T) {
	p := FreePort(t)
	f, err := os.Open(filepath.Join(os.TempDir(), "qredge-test-ports", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatalf("port %d: its lock could be taken by another open file", p)
	}
	if claim(p) {
		t.Fatalf("port %d claimed twice by one process", p)
	}
}
