package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qredge/qredge/analytics/localagg"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store/boltstore"
)

const checkUsage = `qredge check --data-dir DIR [--drop-stats]

Checks the embedded store's file (DIR/qredge.db) offline: every page, and
every link and API key record. Stop 'qredge serve' first. Exits 0 when the
file is healthy, 1 with what is damaged otherwise.

--drop-stats rewrites the file without the embedded stats (their counters
and visitor sketches), keeping the links, keys and audit log, for when the
stats alone are damaged; the old file is kept beside it. Scan events still
in the spool are counted again into the new stats at the next start.`

// CheckConfig is the configuration of 'qredge check'.
type CheckConfig struct {
	DataDir   string
	DropStats bool
}

func (c *CheckConfig) RegisterFlags(fs flagRegistrar) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory of a stopped qredge serve")
	fs.BoolVar(&c.DropStats, "drop-stats", c.DropStats, "rewrite the file without the embedded stats (when only they are damaged)")
}

// errDamaged makes 'qredge check' exit 1 after its report.
var errDamaged = errors.New("the store is damaged")

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := CheckConfig{DataDir: "./qredge-data"}
	fs := cli.NewFlagSet("check", checkUsage, stderr)
	cfg.RegisterFlags(fs)
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if cfg.DropStats {
		old, err := boltstore.DropBuckets(cfg.DataDir, localagg.Buckets())
		if err != nil {
			return fmt.Errorf("cannot drop the stats: %w", err)
		}
		fmt.Fprintf(stdout, "dropped the stats; the old file is %s (remove it once the new one serves)\n", old)
	}
	rep, err := boltstore.Verify(cfg.DataDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %d pages of %d bytes, checked in %v\n", rep.Path, rep.Size, rep.HighWater, rep.PageSize, rep.Took.Round(time.Millisecond))
	for _, b := range rep.Buckets {
		fmt.Fprintf(stdout, "  %-10s %9d keys %7d pages\n", b.Name, b.Keys, b.Pages)
	}
	if rep.Leaked > 0 {
		fmt.Fprintf(stdout, "%d pages are neither used nor free: space lost, no data at risk ('qredge backup' writes a copy without them)\n", rep.Leaked)
	}
	if rep.Healthy() {
		fmt.Fprintln(stdout, "healthy")
		return nil
	}
	fmt.Fprintf(stdout, "DAMAGED: %s\n", rep.Summary())
	buckets, file := rep.DamagedBuckets()
	stats := !file
	for _, b := range buckets {
		stats = stats && containsAny(localagg.Buckets(), b)
	}
	if stats {
		fmt.Fprintf(stdout, "Only the stats are damaged: 'qredge serve' runs with stats off. To repair, restore the latest backup, or drop the stats:\n  qredge check --data-dir %s --drop-stats\n", cfg.DataDir)
	} else {
		fmt.Fprintf(stdout, "The links or keys are damaged: restore the latest backup (stop serve, copy the backup over %s, start serve; see docs/reliability.md).\n", rep.Path)
	}
	return errDamaged
}
