package redisstore

import (
	"fmt"
	"strconv"
	"time"
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
