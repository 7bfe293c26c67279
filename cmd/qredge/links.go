package main

import (
	"context"
	"io"

	"github.com/qredge/qredge/api/client/linkcmd"
	"github.com/qredge/qredge/internal/cli"
)

const linksUsage = `Usage:
  qredge links import FILE (--server URL | --data-dir DIR | --redis ADDR) [--format csv|jsonl] [--chunk 1000] [--atomic] [--dry-run]
  qredge links export (--server URL | --data-dir DIR | --redis ADDR | --from-edge URL) [--format csv|jsonl] [--tag T] [--output FILE]
  qredge links import FILE --redis ADDR --restore [--dataset-id ID]
` + linkcmd.Usage + `
FILE is CSV with a header row or JSON lines (one link object a line), by
its extension or --format; "-" is stdin. --data-dir opens the embedded
store, which a running 'qredge serve' keeps locked: use --server then
(--api is its older name). See docs/links-import-export.md. Run
'qredge links <command> --help' for the flags.
`

func runLinks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := linkcmd.Commands(ctx, stdout, stderr)
	cmds["import"] = func(a []string) error { return runLinksImport(ctx, a, stdout, stderr) }
	cmds["export"] = func(a []string) error { return runLinksExport(ctx, a, stdout, stderr) }
	return cli.Dispatch("links", linksUsage, args, stdout, stderr, cmds)
}
