package ticker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestEvery: fn runs repeatedly while ctx lives, and Every returns once
// ctx is done, with no call after it returns.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func() {
			if n.Add(1) == 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context was cancelled")
	}
	got := n.Load()
	if got < 3 {
		t.Fatalf("fn ran %d times before the cancel, want 3", got)
	}
	time.Sleep(5 * time.Millisecond)
	if n.Load() != got {
		t.Fatalf("fn ran after Every returned: %d calls, then %d", got, n.Load())
	}
}
