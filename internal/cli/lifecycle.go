package cli

import (
	"errors"
	"sync"
)

// Check runs a command's checks in order (its components' Check methods,
// in the order of their flags) and returns the first error.
func Check(checks ...func() error) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// Closers closes what a long-running command opened, the last opened
// first, once: Open adds each part as it opens it, so a failed Open and
// Close undo the same list.
type Closers struct {
	mu  sync.Mutex
	fns []func() error
}

// Add adds a part's close.
func (c *Closers) Add(close func() error) {
	c.mu.Lock()
	c.fns = append(c.fns, close)
	c.mu.Unlock()
}

// AddFunc adds a stop that cannot fail.
func (c *Closers) AddFunc(stop func()) {
	c.Add(func() error { stop(); return nil })
}

// CloseOnError closes when *err is not nil: an Open defers it, so that a
// failed Open undoes what it opened.
func (c *Closers) CloseOnError(err *error) {
	if *err != nil {
		c.Close()
	}
}

// Close runs the closes added so far, the last added first, and returns
// their errors joined. A second Close runs only what was added since.
func (c *Closers) Close() error {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	var errs []error
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
