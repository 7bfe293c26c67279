package main

import (
	"context"
	"io"

	"github.com/qredge/qredge/internal/cli"
)

const linksUsage = `Usage:
  qredge links import FILE (--api URL | --data-dir DIR | --redis ADDR) [--format csv|jsonl] [--chunk 1000] [--atomic] [--dry-run]
  qredge links export (--api URL | --data-dir DIR | --redis ADDR | --from-edge URL) [--format csv|jsonl] [--tag T] [--output FILE]
  qredge links import FILE --redis ADDR --restore [--dataset-id ID]

FILE is CSV with a header row or JSON lines (one link object a line), by
its extension or --format; "-" is stdin. --data-dir opens the embedded
store, which a running 'qredge serve' keeps locked: use --api then.
See docs/links-import-export.md. Run 'qredge links <command> --help' for the flags.
`

func runLinks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Dispatch("links", linksUsage, args, stdout, stderr, map[string]func([]string) error{
		"import": func(a []string) error { return runLinksImport(ctx, a, stdout, stderr) },
		"export": func(a []string) error { return runLinksExport(ctx, a, stdout, stderr) },
	})
}
