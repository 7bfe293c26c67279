package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/qredge/qredge/store"
)

// Readiness says whether an edge over this syncer takes scans, and why,
// for /readyz: ready once its table is loaded (tableReady); degraded,
// still ready (the table serves), while Redis is unreachable or the
// dataset in Redis looks lost.
func (y *Syncer) Readiness(tableReady bool) (bool, string) {
	switch {
	case !tableReady:
		if lost, reason, _ := y.DatasetLost(); lost {
			return false, "not loading: the link dataset in redis looks lost (" + reason + "); see docs/runbook.md#qredgeredisdatasetlost"
		}
		if src, done, total := y.LoadProgress(); src != "" {
			if total > 0 {
				return false, fmt.Sprintf("loading links from %s: %d of %d (%d%%)", src, done, total, done*100/total)
			}
			return false, fmt.Sprintf("loading links from %s: %d", src, done)
		}
		return false, "loading links from redis"
	}
	n := strconv.Itoa(y.r.Len())
	if lost, reason, since := y.DatasetLost(); lost {
		return true, "ready: " + n + " links; degraded: the link dataset in redis looks lost since " + since.UTC().Format(time.RFC3339) +
			" (" + reason + "); serving the links held in memory and refusing to reload; see docs/runbook.md#qredgeredisdatasetlost"
	}
	if up, since := y.Health(); !up {
		if st := y.Stats(); st.SnapshotLoads["local"] > 0 && st.Reloads == 0 && st.Applied == 0 {
			return true, "ready: " + n + " links from the local snapshot; degraded: redis unreachable since " + since.UTC().Format(time.RFC3339) + ", changes since the snapshot not applied yet"
		}
		return true, "ready: " + n + " links; degraded: redis unreachable since " + since.UTC().Format(time.RFC3339) + ", serving from memory"
	}
	return true, "ready: " + n + " links; redis ok"
}

// WriterReadiness says whether a process that writes links through s
// (qredge api) takes traffic, and why, for /readyz: not while Redis is
// unreachable; degraded, still ready, while the dataset looks lost (writes
// answer 503, reads work).
func (s *Store) WriterReadiness() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	switch err := s.CheckDataset(ctx); {
	case store.ErrorCode(err) == store.EDATASETLOST:
		return true, "ready: redis ok; degraded: writes answer 503: " + store.ErrorMessage(err)
	case err != nil:
		return false, "redis unreachable: writes answer 503"
	}
	return true, "ready: redis ok"
}
