package api

import (
	"context"
	"log/slog"

	"github.com/qredge/qredge/store"
)

// maxViolationLogs is how many violations the start-up scan logs one by
// one; the rest are counted.
const maxViolationLogs = 100

// StartPolicyScan checks every stored link against p in the background,
// logging a warning per violation: the check reads every link (a second
// per million, more from Redis), and nothing needs it before the process
// takes requests. Links at fault are left as they are: the operator
// decides (GET /api/v1/policy/violations lists them). A failed check is
// logged, not fatal. stop cancels the check and waits for it; call it
// before closing the store.
func StartPolicyScan(ctx context.Context, p *store.DestinationPolicy, forEach func(context.Context, func(*store.Link) error) error, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		logged := 0
		n, err := p.Scan(ctx, forEach, func(v store.Violation) {
			if logged++; logged <= maxViolationLogs {
				log.Warn("stored link violates the destination policy; it is left as it is", "code", v.Code, "domain", v.Domain, "field", v.Field, "rule", v.Detail)
			}
		})
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("cannot check stored links against the destination policy", "err", err)
		case err == nil && n > 0:
			log.Warn("stored links violate the destination policy; GET /api/v1/policy/violations lists them", "links", n, "violations", logged, "logged", min(logged, maxViolationLogs))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
