package aggregate

import (
	"context"
	"log/slog"
	"time"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

// Limits marks the links whose scan limit (max_scans) their counts reach:
// the scan limits of the distributed mode, where edges count nothing. A
// scan event of a limited link carries the limit; after each applied
// batch the link's exact count (its stats since creation, by day) is
// compared with it, and a link at its limit gets ScanLimitReachedAt in the
// store, which every edge learns from the change feed. The scans between
// the one that reaches the limit and the edges' learning of it pass: the
// overshoot is bounded by the pipeline's latency (docs/rules.md).
type Limits struct {
	Stats store.StatsReader
	Links store.LinkStore
	Now   func() time.Time // nil: time.Now
	Log   *slog.Logger
}

// Applier is what a consumer stores batches through (kafka.Applier).
type Applier interface {
	CheckTopic(ctx context.Context, topic string) error
	AddPartitions(ctx context.Context, parts []int) error
	Offset(ctx context.Context, p int) (last int64, ok bool, err error)
	Apply(ctx context.Context, p int, prev, last int64, events []analytics.Decoded) (Result, error)
}

// Watch returns a that checks the limits of the links in every batch it
// applied.
func (l *Limits) Watch(a Applier) Applier { return &limitsApplier{Applier: a, l: l} }

type limitsApplier struct {
	Applier
	l *Limits
}

func (w *limitsApplier) Apply(ctx context.Context, p int, prev, last int64, events []analytics.Decoded) (Result, error) {
	res, err := w.Applier.Apply(ctx, p, prev, last, events)
	if err == nil {
		w.l.Check(ctx, events)
	}
	return res, err
}

type limitedLink struct {
	domain, code string
	created      int64
	max          int64
	bots         bool
}

// Check marks the limited links of events (counted already) whose count
// reached their limit. Failures are logged: the link's next scan checks
// again.
func (l *Limits) Check(ctx context.Context, events []analytics.Decoded) {
	var seen map[limitedLink]bool
	for i := range events {
		e := &events[i]
		if e.MaxScans <= 0 || e.LinkCreated == 0 || e.Target == analytics.TargetScanLimit || e.Target == analytics.TargetDisabled {
			continue
		}
		k := limitedLink{e.Domain, e.Code, e.LinkCreated, e.MaxScans, e.MaxScansIncludeBots}
		if seen[k] {
			continue
		}
		if seen == nil {
			seen = make(map[limitedLink]bool)
		}
		seen[k] = true
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	for k := range seen {
		st, err := l.Stats.LinkStats(ctx, store.LimitQuery(k.domain, k.code, time.Unix(0, k.created), k.bots, now()))
		if n := int64(0); err == nil {
			if n = store.ScansTowardLimit(&st.Stats); n >= k.max {
				err = store.MarkScanLimitReached(ctx, l.Links, k.domain, k.code, k.created, n, k.bots, now())
			}
		}
		if err != nil && l.Log != nil {
			l.Log.Warn("cannot check a link's scan limit", "code", k.code, "domain", k.domain, "err", err)
		}
	}
}
