package redisstore

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RegisterFlags adds the flags of an edge's table upkeep: resyncs and
// snapshots.
func (c *SyncConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ResyncInterval, "resync-interval", c.ResyncInterval, "how often the in-memory table is compared with Redis in full (0: never)")
	fs.StringVar(&c.SnapshotDir, "snapshot-dir", c.SnapshotDir, "directory of the edge's local snapshot of its links (links.snap): a restart loads it and catches up from Redis's change stream, and starts degraded from it when Redis is down; empty: none")
	fs.BoolVar(&c.SharedSnapshots, "shared-snapshots", c.SharedSnapshots, "start from the shared snapshot in Redis when it fits, and publish it (one edge at a time) every --snapshot-interval")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often the local and shared snapshots are refreshed when the links changed")
}

// Check returns an error naming the first invalid setting.
func (c *SyncConfig) Check() error {
	if c.ResyncInterval < 0 {
		return errors.New("durations must not be negative (--resync-interval)")
	}
	if c.SnapshotInterval < time.Second {
		return errors.New("--snapshot-interval must be at least 1s")
	}
	return nil
}

// OpenSnapshotDir creates SnapshotDir, when set, and points SnapshotFile
// at links.snap in it.
func (c *SyncConfig) OpenSnapshotDir() error {
	if c.SnapshotDir == "" {
		return nil
	}
	if err := os.MkdirAll(c.SnapshotDir, 0o755); err != nil {
		return fmt.Errorf("--snapshot-dir: %w", err)
	}
	c.SnapshotFile = filepath.Join(c.SnapshotDir, "links.snap")
	return nil
}
