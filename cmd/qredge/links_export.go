package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkio"
	"github.com/qredge/qredge/store/linkio/target"
)

func runLinksExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("links export", "qredge links export (--server URL | --data-dir DIR | --redis ADDR | --from-edge URL) [flags]", stderr)
	var t target.Config
	t.RegisterFlags(fs, true)
	format := fs.String("format", "", "csv or jsonl (default: by --output's extension, else csv)")
	tag := fs.String("tag", "", "only the links with this tag")
	output := fs.String("output", "", "write to this file (replaced when the export is complete) instead of stdout")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := t.Check(); err != nil {
		return err
	}
	if *tag != "" {
		if msg := store.CheckTag(*tag); msg != "" {
			return fmt.Errorf("--tag: %s", msg)
		}
	}
	f, err := linkio.ParseFormat(*format, *output, linkio.CSV)
	if err != nil {
		return err
	}
	from, edge, closer, err := t.OpenLister(ctx)
	if err != nil {
		return err
	}
	defer closer.Close()
	start := time.Now()
	var n int
	if *output != "" {
		n, err = linkio.ExportFile(ctx, from, *tag, f, *output)
	} else {
		n, err = linkio.Export(ctx, from, *tag, f, stdout)
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	if edge != nil {
		fmt.Fprintf(stderr, "the edge holds dataset %s\n", edge.Dataset())
	}
	fmt.Fprintf(stderr, "exported %d links in %s (%.0f links/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}
