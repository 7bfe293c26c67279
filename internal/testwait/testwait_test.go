package testwait

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			time.Sleep(5 * time.Millisecond)
			n.Add(1)
		}
	}()
	For(t, 10*time.Second, "three ticks", func() bool { return n.Load() == 3 })
	if n.Load() != 3 {
		t.Fatalf("returned at %d ticks", n.Load())
	}
	// A condition that never holds fails the test, naming it.
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		For(ft, 20*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if ft.msg != "timed out after 20ms waiting for never" {
		t.Fatalf("failure message %q", ft.msg)
	}
}

// fakeTB records Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestLoop(t *testing.T) {
	var calls [3]atomic.Int32
	stop := Loop(t, 3, func(g int) bool {
		calls[g].Add(1)
		return true
	})
	For(t, 10*time.Second, "every goroutine called", func() bool {
		return calls[0].Load() > 0 && calls[1].Load() > 0 && calls[2].Load() > 0
	})
	stop()
	n := calls[0].Load() + calls[1].Load() + calls[2].Load()
	time.Sleep(5 * time.Millisecond)
	if m := calls[0].Load() + calls[1].Load() + calls[2].Load(); m != n {
		t.Fatalf("%d calls after stop returned", m-n)
	}
	stop() // a second stop, and the cleanup's, are fine
	// A body that returns false ends its goroutine.
	var three atomic.Int32
	stop = Loop(t, 1, func(int) bool { return three.Add(1) < 3 })
	For(t, 10*time.Second, "three calls", func() bool { return three.Load() >= 3 })
	time.Sleep(5 * time.Millisecond)
	stop()
	if three.Load() != 3 {
		t.Fatalf("body called %d times, want 3 (the third returned false)", three.Load())
	}
}
