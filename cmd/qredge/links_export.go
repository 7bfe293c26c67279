package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkio"
)

func runLinksExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("links export", "qredge links export (--api URL | --data-dir DIR | --redis ADDR | --from-edge URL) [flags]", stderr)
	var t linksTarget
	t.register(fs)
	fs.StringVar(&t.fromEdge, "from-edge", "", "the admin listener of a running 'qredge edge' (its --admin-listen), such as http://10.0.0.5:9090: every link its table holds, with versions and times, to restore a lost Redis")
	format := fs.String("format", "", "csv or jsonl (default: by --output's extension, else csv)")
	tag := fs.String("tag", "", "only the links with this tag")
	output := fs.String("output", "", "write to this file (replaced when the export is complete) instead of stdout")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := t.check(); err != nil {
		return err
	}
	if *tag != "" {
		if msg := store.CheckTag(*tag); msg != "" {
			return fmt.Errorf("--tag: %s", msg)
		}
	}
	f, err := formatOf(*format, *output, linkio.CSV)
	if err != nil {
		return err
	}
	var from linkio.Lister
	var edge *client.EdgeTable
	if t.fromEdge != "" {
		cfg := client.Config{URL: strings.TrimSuffix(t.fromEdge, "/")}
		edge = client.NewEdgeTable(cfg)
		from = edgeLister{edge, cfg.URL}
	} else {
		be, err := t.open(ctx, false)
		if err != nil {
			return err
		}
		defer be.Close()
		from = be
	}

	out := stdout
	var tmp *os.File
	if *output != "" {
		if tmp, err = os.CreateTemp(filepath.Dir(*output), filepath.Base(*output)+".*.tmp"); err != nil {
			return err
		}
		defer os.Remove(tmp.Name()) // after the rename, a no-op
		defer tmp.Close()
		out = tmp
	}
	start := time.Now()
	n, err := linkio.Export(ctx, from, *tag, f, out)
	if err != nil {
		return err
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), *output); err != nil {
			return err
		}
	}
	el := time.Since(start)
	if edge != nil {
		fmt.Fprintf(stderr, "the edge holds dataset %s\n", edge.Dataset())
	}
	fmt.Fprintf(stderr, "exported %d links in %s (%.0f links/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}

// edgeLister is an edge's table; an answer other than 200 most likely
// comes from a listener that is not its admin listener.
type edgeLister struct {
	*client.EdgeTable
	base string
}

func (e edgeLister) ForEachLink(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	err := e.EdgeTable.ForEachLink(ctx, tag, fn)
	var ae *client.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("the edge answered %s: %s (is %s its admin listener, --admin-listen?)", ae.Status, ae.Body, e.base)
	}
	return err
}
