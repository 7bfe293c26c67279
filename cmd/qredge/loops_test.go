package main

import (
	"sync"
	"sync/atomic"
)

// loops is load a test runs in the background while it changes what is
// under the load: each Go starts a goroutine that calls its body over and
// over until Stop. The zero value is ready to use.
type loops struct {
	stop atomic.Bool
	wg   sync.WaitGroup
}

// Go calls body(i) with i = 0, 1, 2, ... in a goroutine of its own until
// Stop.
func (l *loops) Go(body func(i int)) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; !l.stop.Load(); i++ {
			body(i)
		}
	}()
}

// Stop ends the loops and waits for the bodies still running. Calling it
// again does nothing more.
func (l *loops) Stop() {
	l.stop.Store(true)
	l.wg.Wait()
}
