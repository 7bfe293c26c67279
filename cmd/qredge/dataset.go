package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/qredge/qredge/internal/cli"
)

const datasetUsage = `Usage:
  qredge dataset status --redis ADDR
  qredge dataset adopt --redis ADDR --yes [--supersedes ID,...]

status shows the link dataset in Redis: its id, links, version counter,
and the ids edges reported lost. adopt makes what Redis holds now the
intended dataset after a loss: edges that hold a lost dataset reload it in
full (possibly to nothing), and the API writes to it again. Restore a lost
dataset instead with 'qredge links import --restore' (docs/runbook.md).
`

func runDataset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Dispatch("dataset", datasetUsage, args, stdout, stderr, map[string]func([]string) error{
		"status": func(a []string) error { return datasetCommand(ctx, "status", a, stdout, stderr) },
		"adopt":  func(a []string) error { return datasetCommand(ctx, "adopt", a, stdout, stderr) },
	})
}

func datasetCommand(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("dataset "+sub, "qredge dataset "+sub+" --redis ADDR [flags]", stderr)
	rf := cli.DefaultRedisFlags()
	rf.Register(fs)
	yes := fs.Bool("yes", false, "adopt: confirm that the dataset in Redis now is the one to keep")
	supersedes := fs.String("supersedes", "", "adopt: also supersede these dataset ids (comma-separated), beside those edges reported lost")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	s, err := rf.Open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if sub == "adopt" {
		if !*yes {
			return errors.New("adopt replaces the dataset every edge holds with what Redis holds now: add --yes to confirm (to bring the lost links back, restore them instead: 'qredge links import --restore')")
		}
		var also []string
		for _, id := range strings.Split(*supersedes, ",") {
			if id = strings.TrimSpace(id); id != "" {
				also = append(also, id)
			}
		}
		before, err := s.Dataset(ctx)
		if err != nil {
			return err
		}
		id, err := s.Adopt(ctx, also...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "adopted dataset %s (%d links); it supersedes %s\n", id, before.Links, strings.Join(append(sortedIDs(before.Lost), also...), ", "))
		return nil
	}
	d, err := s.Dataset(ctx)
	if err != nil {
		return err
	}
	id := d.ID
	if id == "" {
		id = "(none)"
	}
	fmt.Fprintf(stdout, "dataset:     %s\n", id)
	if d.Created != "" {
		fmt.Fprintf(stdout, "created:     %s\n", d.Created)
	}
	if len(d.Supersedes) > 0 {
		fmt.Fprintf(stdout, "supersedes:  %s\n", strings.Join(d.Supersedes, ", "))
	}
	fmt.Fprintf(stdout, "links:       %d\n", d.Links)
	fmt.Fprintf(stdout, "version:     %d\n", d.Seq)
	if len(d.Lost) == 0 {
		fmt.Fprintln(stdout, "lost:        none reported")
		return nil
	}
	for _, lid := range sortedIDs(d.Lost) {
		fmt.Fprintf(stdout, "lost:        %s (edges hold versions up to %d): restore it or adopt this dataset, see docs/runbook.md#qredgeredisdatasetlost\n", lid, d.Lost[lid])
	}
	return nil
}

func sortedIDs(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
