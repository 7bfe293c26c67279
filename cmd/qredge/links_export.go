package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

func runLinksExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("links export", "qredge links export (--api URL | --data-dir DIR | --redis ADDR | --from-edge URL) [flags]", stderr)
	var t linksTarget
	t.register(fs)
	fs.StringVar(&t.fromEdge, "from-edge", "", "the admin listener of a running 'qredge edge' (its --admin-listen), such as http://10.0.0.5:9090: every link its table holds, with versions and times, to restore a lost Redis")
	format := fs.String("format", "", "csv or jsonl (default: by --output's extension, else csv)")
	tag := fs.String("tag", "", "only the links with this tag")
	output := fs.String("output", "", "write to this file (replaced when the export is complete) instead of stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := t.check(args); err != nil {
		return err
	}
	if *tag != "" {
		if msg := store.CheckTag(*tag); msg != "" {
			return fmt.Errorf("--tag: %s", msg)
		}
	}
	f, err := formatOf(*format, *output, "csv")
	if err != nil {
		return err
	}
	be, err := t.open(ctx, false)
	if err != nil {
		return err
	}
	defer be.close()

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
	n, err := exportLinks(ctx, be, *tag, f, out)
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
	if e, ok := be.(*edgeLinks); ok {
		fmt.Fprintf(stderr, "the edge holds dataset %s\n", e.dataset)
	}
	fmt.Fprintf(stderr, "exported %d links in %s (%.0f links/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}

// exportLinks streams the links of be to w in format f.
func exportLinks(ctx context.Context, be linksBackend, tag, f string, w io.Writer) (int, error) {
	n := 0
	var err error
	if f == "csv" {
		bw := bufio.NewWriterSize(w, 64<<10)
		cw := linkfile.NewCSVWriter(bw)
		err = be.forEach(ctx, tag, func(l *store.Link, _ json.RawMessage) error {
			n++
			return cw.Write(l)
		})
		if err == nil {
			err = cw.Flush()
		}
		if err == nil {
			err = bw.Flush()
		}
	} else {
		jw := linkfile.NewJSONLWriter(w)
		err = be.forEach(ctx, tag, func(l *store.Link, raw json.RawMessage) error {
			n++
			if raw != nil {
				return jw.WriteRaw(raw)
			}
			return jw.Write(l)
		})
		if err == nil {
			err = jw.Flush()
		}
	}
	if err != nil {
		return n, fmt.Errorf("export stopped after %d links: %w", n, err)
	}
	return n, nil
}
