package redisstore

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns the syncer's metrics: the change feed, reloads and
// resyncs, the dataset checks and the snapshots.
func (y *Syncer) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func(SyncStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(y.Stats())) })
	}
	return []prometheus.Collector{
		counter("qredge_feed_changes_applied_total", "Changes applied from the Redis change stream.", func(s SyncStats) uint64 { return s.Applied }),
		counter("qredge_feed_reloads_total", "Full reloads of the table from Redis (start, and gaps in the stream).", func(s SyncStats) uint64 { return s.Reloads }),
		counter("qredge_resyncs_total", "Periodic full comparisons with Redis.", func(s SyncStats) uint64 { return s.Resyncs }),
		counter("qredge_resync_differences_total", "Links a resync found different from Redis and fixed (should stay 0).", func(s SyncStats) uint64 { return s.ResyncDiffs }),
		counter("qredge_redis_errors_total", "Failed reads of the change feed.", func(s SyncStats) uint64 { return s.Errors }),
		counter("qredge_reload_refused_total", "Reloads of the table refused because the link dataset in Redis looks lost (empty, another dataset, or behind the table).", func(s SyncStats) uint64 { return s.Refused }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_dataset_lost", Help: "1 while the link dataset in Redis looks lost and the table is kept as it is (QredgeRedisDatasetLost)."},
			func() float64 {
				if y.Stats().DatasetLost {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_redis_up", Help: "1 while Redis answers, 0 while the edge serves from memory only."},
			func() float64 {
				if y.Stats().RedisUp {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_table_load_seconds", Help: "Duration of the last full load of the table."},
			func() float64 { return y.Stats().LastLoadDur.Seconds() }),
		counter("qredge_snapshot_loads_shared_total", "Starts from the shared snapshot in Redis.", func(s SyncStats) uint64 { return s.SnapshotLoads["shared"] }),
		counter("qredge_snapshot_loads_local_total", "Starts from the local snapshot (--snapshot-dir).", func(s SyncStats) uint64 { return s.SnapshotLoads["local"] }),
		counter("qredge_snapshots_refused_total", "Snapshots refused at start (damaged, stale, or of another dataset); the links were loaded another way.", func(s SyncStats) uint64 { return s.SnapshotsRefused }),
		counter("qredge_snapshots_written_total", "Local snapshots written.", func(s SyncStats) uint64 { return s.SnapshotsWritten }),
		counter("qredge_snapshots_published_total", "Shared snapshots this edge published to Redis.", func(s SyncStats) uint64 { return s.SnapshotsShared }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_snapshot_bytes", Help: "Size of the last snapshot this edge wrote (compressed)."},
			func() float64 { return float64(y.Stats().LastSnapshotBytes) }),
	}
}
