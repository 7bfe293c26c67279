package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
)

// restoreLinks restores a lost link dataset into Redis from an export
// (of Redis before the loss, or of a running edge's table): every row is
// validated, the links are written with their versions and times, and the
// dataset gets its id back only when every row was written. A file with a
// bad row restores nothing visible: fix it and run the restore again (it
// replaces what the first run wrote).
func restoreLinks(ctx context.Context, rf cli.RedisFlags, id string, src linkSource, stdout, stderr io.Writer) error {
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
	var (
		chunk []*store.Link
		top   uint64
		n     int
		bad   int
		seen  = map[string]int{}
	)
	flush := func() error {
		if bad > 0 || len(chunk) == 0 {
			chunk = chunk[:0]
			return nil
		}
		t, err := s.RestoreLinks(ctx, chunk)
		if err != nil {
			return fmt.Errorf("the restore stopped after %d links: %w", n, err)
		}
		top, n, chunk = max(top, t), n+len(chunk), chunk[:0]
		return nil
	}
	for {
		l, line, rowErr, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w; nothing was restored", line, err)
		}
		if rowErr == nil {
			// The links were stored before: the structure is checked, the
			// destination policy of today is not applied to them.
			rowErr = l.Validate()
		}
		if rowErr == nil {
			if first, dup := seen[l.Key()]; dup {
				rowErr = fmt.Errorf("the same code and domain as line %d", first)
			}
			seen[l.Key()] = line
		}
		if rowErr != nil {
			fmt.Fprintf(stderr, "line %d: %s\n", line, store.ErrorMessage(rowErr))
			bad++
			continue
		}
		chunk = append(chunk, l)
		if len(chunk) >= 2000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d rows failed: the dataset was not restored (its id is not back, so edges keep their tables and writes stay refused); fix the file and run the restore again", bad)
	}
	if err := s.RestoreFinish(ctx, id, top); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "restored %d links into dataset %s in %s; edges that hold it reload it, and the API writes again\n", n, id, el.Round(time.Millisecond))
	return nil
}
