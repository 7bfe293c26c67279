package prescale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is the configuration of a prescale run.
type Config struct {
	Replicas int32         // the floor of minReplicas during a drop window
	LeadTime time.Duration // how long before a drop the window opens
	Hold     time.Duration // how long after a drop it closes
	Window   time.Duration // how far ahead PrintDrops looks

	Namespace string   // of the HPAs
	HPAs      []string // the edge HPAs, one per region
	Apply     bool     // change the HPAs; without it, only say what would change
}

// DefaultConfig returns the defaults. Replicas has none: the caller must
// set it.
func DefaultConfig() Config {
	return Config{
		LeadTime:  30 * time.Minute,
		Hold:      2 * time.Hour,
		Window:    24 * time.Hour,
		Namespace: "default",
		HPAs:      []string{"qredge-edge"},
	}
}

// Reconcile brings every HPA of cfg to the state window w wants (or, without
// cfg.Apply, says what it would do), printing one line per HPA to out. An
// error with one HPA does not stop the others; the errors are returned
// together.
func Reconcile(ctx context.Context, c HPAClient, cfg Config, w Window, out io.Writer) error {
	var errs []error
	for _, name := range cfg.HPAs {
		ch, err := ReconcileHPA(ctx, c, cfg.Namespace, name, cfg.Replicas, w, cfg.Apply)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, ch.Describe(w, cfg.Apply))
	}
	if !cfg.Apply && len(errs) == 0 {
		fmt.Fprintln(out, "dry run: nothing changed (add --apply to change the HPAs)")
	}
	return errors.Join(errs...)
}
