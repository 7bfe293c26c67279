package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qredge/qredge/api"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/progress"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkio"
	"github.com/qredge/qredge/store/linkio/target"
	"github.com/qredge/qredge/store/snapshot"
)

func runLinksImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("links import", "qredge links import FILE (--server URL | --data-dir DIR | --redis ADDR) [flags]", stderr)
	var t target.Config
	t.RegisterFlags(fs, false)
	format := fs.String("format", "", "csv or jsonl (default: by FILE's extension: .csv, .jsonl or .ndjson)")
	chunk := fs.Int("chunk", linkio.DefaultImportConfig().Chunk, fmt.Sprintf("rows per bulk creation, 1 to %d", store.MaxBulkLinks))
	atomic := fs.Bool("atomic", false, "all or nothing per chunk (not per file): a failed row keeps the other rows of its chunk out; default: every valid row is imported")
	dryRun := fs.Bool("dry-run", false, "read and validate only; write nothing")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	upsert := fs.Bool("upsert", false, "update the links whose code exists already (each replaced by its row, keeping its creation time) instead of failing those rows; not with --atomic")
	restore := fs.Bool("restore", false, "restore a lost link dataset into Redis (--redis only): links keep their versions and times, and the dataset gets its id back (docs/runbook.md#qredgeredisdatasetlost)")
	datasetID := fs.String("dataset-id", "", "with --restore or --snapshot: the id of the lost dataset (default: the one edges reported lost, or the snapshot's)")
	snapFile := fs.String("snapshot", "", "restore a lost link dataset into Redis (--redis only) from an edge's local snapshot (links.snap in its --snapshot-dir) instead of FILE: like --restore, with the snapshot's dataset id")
	// The destination policy of the API, for the targets that bypass it
	// (--data-dir, --redis) and for --dry-run; through --api the server
	// applies its own as well.
	policy := store.DefaultPolicyConfig()
	policy.RegisterFlags(fs)
	publicURL := fs.String("public-url", "", "scheme and host of the short links, such as https://go.example.com: links to it are refused (a redirect loop), as by the API")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	destPolicy, err := policy.NewPolicy(*publicURL)
	if err != nil {
		return err
	}
	if err := api.CheckPublicURL(*publicURL); err != nil {
		return err
	}
	if *snapFile != "" {
		if fs.NArg() != 0 {
			return errors.New("--snapshot FILE takes the place of the import FILE: give one or the other")
		}
		if err := t.Check(); err != nil {
			return err
		}
		if t.Redis.Addr == "" || *dryRun || *restore {
			return errors.New("--snapshot restores straight into Redis: give --redis ADDR (and no --dry-run or --restore)")
		}
		m, frames, err := snapshot.ReadFile(*snapFile)
		if err != nil {
			return fmt.Errorf("--snapshot %s: %w", *snapFile, err)
		}
		id := *datasetID
		if id == "" {
			id = m.Dataset
		}
		src, err := linkio.NewSnapshotSource(m, frames)
		if err != nil {
			return fmt.Errorf("--snapshot %s: %w", *snapFile, err)
		}
		fmt.Fprintf(stderr, "snapshot %s: %d links of dataset %s, taken %s\n", *snapFile, m.Links, m.Dataset, m.Created.Format(time.RFC3339))
		return restoreLinks(ctx, t.Redis, id, src, stdout, stderr)
	}
	if fs.NArg() != 1 {
		return errors.New("import needs exactly one FILE (- for stdin)")
	}
	name := fs.Arg(0)
	if err := t.Check(); err != nil {
		return err
	}
	if *restore && (t.Redis.Addr == "" || *dryRun) {
		return errors.New("--restore writes straight into Redis: give --redis ADDR (and no --dry-run)")
	}
	if *datasetID != "" && !*restore {
		return errors.New("--dataset-id goes with --restore")
	}
	if *upsert && (*atomic || *restore) {
		return errors.New("--upsert goes with neither --atomic nor --restore")
	}
	if *chunk < 1 || *chunk > store.MaxBulkLinks {
		return fmt.Errorf("--chunk must be between 1 and %d", store.MaxBulkLinks)
	}
	if name == "-" && *format == "" {
		return errors.New("give --format csv or --format jsonl to read stdin")
	}
	f, err := linkio.ParseFormat(*format, name, "")
	if err != nil {
		return err
	}
	in := &progress.Reader{R: os.Stdin}
	var size int64
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		if fi, err := file.Stat(); err == nil {
			size = fi.Size()
		}
		in.R = file
	}
	src, err := linkio.NewSource(in, f, *restore)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if *restore {
		return restoreLinks(ctx, t.Redis, *datasetID, src, stdout, stderr)
	}
	var to linkio.Creator
	if !*dryRun {
		be, err := t.Open(ctx, true)
		if err != nil {
			return err
		}
		defer be.Close()
		to = be
	}
	meter := progress.New(stderr, "import", "rows", size, *quiet)
	im := linkio.NewImporter(linkio.ImportConfig{Chunk: *chunk, Atomic: *atomic, Policy: destPolicy, Upsert: *upsert,
		Progress: func(c linkio.Counts) { meter.Update(int64(c.Rows), in.N) }}, to, stderr)
	start := time.Now()
	err = im.Run(ctx, src)
	meter.Done()
	el := time.Since(start)
	c := im.Counts()
	rate := float64(c.Imported) / el.Seconds()
	switch {
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: %d links valid, %d failed, in %s\n", c.Imported, c.Failed, el.Round(time.Millisecond))
	case c.Skipped > 0:
		fmt.Fprintf(stdout, "imported %d links, %d failed, %d valid ones not imported because their chunk had a failure (--atomic), in %s (%.0f links/s)\n",
			c.Imported, c.Failed, c.Skipped, el.Round(time.Millisecond), rate)
	case c.Updated > 0:
		fmt.Fprintf(stdout, "imported %d links, %d updated, %d failed, in %s\n", c.Imported, c.Updated, c.Failed, el.Round(time.Millisecond))
	default:
		fmt.Fprintf(stdout, "imported %d links, %d failed, in %s (%.0f links/s)\n", c.Imported, c.Failed, el.Round(time.Millisecond), rate)
	}
	if err != nil {
		return err
	}
	if c.Failed > 0 || c.Skipped > 0 {
		return fmt.Errorf("%d of %d rows failed", c.Failed, c.Rows)
	}
	return nil
}
