package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store/linkio"
)

// restoreLinks restores a lost link dataset into Redis from src (see
// linkio.Restore): the dataset gets its id back only when every row was
// written.
func restoreLinks(ctx context.Context, rf cli.RedisFlags, id string, src linkio.Source, stdout, stderr io.Writer) error {
	s, err := rf.Open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := s.Dataset(ctx)
	if err != nil {
		return err
	}
	if id == "" {
		switch len(d.Lost) {
		case 1:
			for lost := range d.Lost {
				id = lost
			}
		case 0:
			return errors.New("no edge reported a lost dataset: give the id to restore with --dataset-id (an edge's /readyz, its log and 'qredge links export --from-edge' name it)")
		default:
			return fmt.Errorf("edges reported several lost datasets (%s): pick one with --dataset-id", strings.Join(sortedIDs(d.Lost), ", "))
		}
	}
	if err := s.CheckRestore(ctx, id); err != nil {
		return err
	}
	start := time.Now()
	n, top, err := linkio.Restore(ctx, s, src, stderr)
	if err != nil {
		return err
	}
	if err := s.RestoreFinish(ctx, id, top); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "restored %d links into dataset %s in %s; edges that hold it reload it, and the API writes again\n", n, id, el.Round(time.Millisecond))
	return nil
}
