package store

import (
	"context"
	"time"
)

// Targets of scans that do not count toward a link's scan limit: the
// link did not send the visitor to its destinations.
var notTowardLimit = []string{"not_yet_active", "expired", "disabled", "scan_limit"}

// LimitQuery is the stats query that counts the scans of the link
// (domain, code) created at created toward its scan limit: every day
// since its creation, by people only unless includeBots.
func LimitQuery(domain, code string, created time.Time, includeBots bool, now time.Time) StatsQuery {
	return StatsQuery{Domain: domain, Code: code, Created: created, From: created, To: now.Add(24 * time.Hour),
		Granularity: Day, ExcludeBots: !includeBots}
}

// ScansTowardLimit returns the scans of st (a LimitQuery's) that count
// toward the limit: all but those answered as not live yet, ended,
// disabled or past the limit.
func ScansTowardLimit(st *Stats) int64 {
	n := st.Total
	for _, t := range notTowardLimit {
		n -= st.Breakdowns["target"][t]
	}
	return n
}

// MarkScanLimitReached sets ScanLimitReachedAt of the link (domain, code)
// created at created (Unix nanoseconds), whose scans toward its limit
// were counted as count (bots' included when bots), so that every edge
// answers it as past its limit. It does nothing when the link is gone,
// is another link (created again), is marked already, or has a limit the
// count does not reach (changed since the count: counted with the other
// bots setting, or raised).
func MarkScanLimitReached(ctx context.Context, links LinkStore, domain, code string, created, count int64, bots bool, at time.Time) error {
	for attempt := 0; ; attempt++ {
		l, err := links.GetLink(ctx, domain, code)
		if ErrorCode(err) == ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if l.CreatedAt.UnixNano() != created || l.MaxScans == 0 || count < l.MaxScans || l.MaxScansIncludeBots != bots || l.ScanLimitReachedAt != nil {
			return nil
		}
		at := at.UTC()
		l.ScanLimitReachedAt = &at
		_, err = links.UpdateLink(ctx, l, l.Version)
		if ErrorCode(err) == EPRECONDITION && attempt < 5 {
			continue // changed in between: look again
		}
		return err
	}
}
