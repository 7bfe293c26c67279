// Package ticker runs periodic work of a background loop.
package ticker

import (
	"context"
	"time"
)

// Every calls fn every d until ctx is done; the first call is d after the
// start.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
