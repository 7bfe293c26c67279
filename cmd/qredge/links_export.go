package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/progress"
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
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
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
	meter := progress.New(stderr, "export", "links", 0, *quiet)
	from = progressLister{from, meter}
	start := time.Now()
	var n int
	if *output != "" {
		n, err = linkio.ExportFile(ctx, from, *tag, f, *output)
	} else {
		n, err = linkio.Export(ctx, from, *tag, f, stdout)
	}
	meter.Done()
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

// progressLister counts the links of an export on its meter.
type progressLister struct {
	linkio.Lister
	meter *progress.Meter
}

func (p progressLister) ForEachLink(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	n := int64(0)
	return p.Lister.ForEachLink(ctx, tag, func(l *store.Link, raw json.RawMessage) error {
		n++
		if n%1000 == 0 {
			p.meter.Update(n, 0)
		}
		return fn(l, raw)
	})
}
