package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/prescale"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/redisstore"
)

// runPrescale parses the command line and runs once.
func runPrescale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := cli.NewFlagSet("prescale", synopsis, stderr)
	cfg.registerFlags(fs)
	// --now is a testing aid the usage does not show: the usage is that of a
	// flag set without it.
	shown := cli.NewFlagSet("prescale", synopsis, stderr)
	cfg.registerFlags(shown)
	fs.Usage = shown.Usage
	fs.StringVar(&cfg.Now, "now", "", "evaluate as of this RFC 3339 time instead of the clock (for tests and rehearsals)")
	// The store given on the command line wins over one from the
	// environment, as for 'qredge links'.
	cli.Exclusive(fs, "redis", "data-dir")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	return prescaleOnce(ctx, &cfg, stdout)
}

// prescaleOnce reads the drops, prints them, and brings every HPA to the
// state the drop windows want (or says what it would do).
func prescaleOnce(ctx context.Context, cfg *Config, stdout io.Writer) error {
	now, pc := cfg.now(), cfg.planner()
	drops, err := loadDrops(ctx, cfg)
	if err != nil {
		return err
	}
	w := prescale.WindowAt(drops, now, pc.LeadTime, pc.Hold)
	prescale.PrintDrops(stdout, drops, now, pc)

	hpas, err := newHPAClient(cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("cannot configure the Kubernetes client: %w", err)
	}
	return prescale.Reconcile(ctx, hpas, pc, w, stdout)
}

// loadDrops reads the drops of every link in the store of cfg, in time
// order. A data directory without a store is an error: a typo must not
// read as "no drops" and restore the HPAs in the middle of one.
func loadDrops(ctx context.Context, cfg *Config) ([]prescale.Drop, error) {
	var ls store.LinkStore
	if cfg.DataDir != "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, boltstore.FileName)); err != nil {
			return nil, fmt.Errorf("--data-dir %s holds no qredge store: %w", cfg.DataDir, err)
		}
		db, err := boltstore.Open(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		ls = db
	} else {
		s, err := redisstore.Open(ctx, cfg.Redis.Config())
		if err != nil {
			return nil, err
		}
		defer s.Close()
		ls = s
	}
	return prescale.LoadDrops(ctx, ls)
}
