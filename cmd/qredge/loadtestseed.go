package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/progress"
	"github.com/qredge/qredge/loadtest"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// runLoadtestSeed is 'qredge loadtest seed': n links for benchmarks,
// written straight into the embedded store (which must not be open in a
// running qredge serve) or into Redis.
func runLoadtestSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("loadtest seed", "qredge loadtest seed (--data-dir DIR | --redis ADDR) [--n 100000] [--prefix c]", stderr)
	dataDir := fs.String("data-dir", "", "embedded store to seed (qredge serve's --data-dir; stop qredge serve first)")
	rf := cli.DefaultRedisFlags()
	rf.Register(fs)
	n := fs.Int("n", 100000, "how many links: <prefix>1 .. <prefix>N")
	prefix := fs.String("prefix", "c", "code prefix")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if (*dataDir == "") == (rf.Addr == "") {
		return errors.New("give exactly one of --data-dir and --redis")
	}
	if *n < 1 || *n > 50_000_000 {
		return errors.New("--n must be between 1 and 50000000")
	}
	links, err := loadtest.SeedLinks(*prefix, *n)
	if err != nil {
		return fmt.Errorf("--prefix %q: %v", *prefix, err)
	}
	var seed func([]*store.Link) error
	if *dataDir != "" {
		db, err := boltstore.Open(*dataDir)
		if err != nil {
			return err
		}
		defer db.Close()
		seed = func(part []*store.Link) error { return loadtest.SeedStore(ctx, db, part) }
	} else {
		s, err := rf.Open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		seed = func(part []*store.Link) error { return s.Seed(ctx, part) }
	}
	// In parts, to show the progress between them.
	meter := progress.New(stderr, "seed", "links", int64(len(links)), *quiet)
	start := time.Now()
	for i := 0; i < len(links); i += 50000 {
		part := links[i:min(i+50000, len(links))]
		if err := seed(part); err != nil {
			return fmt.Errorf("cannot seed: %w", err)
		}
		done := int64(i + len(part))
		meter.Update(done, done)
	}
	meter.Done()
	el := time.Since(start)
	fmt.Fprintf(stdout, "seeded %d links %s1..%s%d in %s (%.0f links/s)\n", *n, *prefix, *prefix, *n, el.Round(time.Millisecond), float64(*n)/el.Seconds())
	return nil
}
