package main

import (
	"context"
	"fmt"
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
	if len(args) == 0 {
		fmt.Fprint(stderr, linksUsage)
		return cli.ErrUsage
	}
	switch args[0] {
	case "import":
		return runLinksImport(ctx, args[1:], stdout, stderr)
	case "export":
		return runLinksExport(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, linksUsage)
		return nil
	}
	fmt.Fprintf(stderr, "qredge links: unknown command %q\n\n%s", args[0], linksUsage)
	return cli.ErrUsage
}
