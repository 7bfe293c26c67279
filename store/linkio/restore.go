package linkio

import (
	"context"
	"fmt"
	"io"

	"github.com/qredge/qredge/store"
)

// Restorer writes links back into a lost dataset with their versions and
// times, and returns the highest version written (store/redisstore).
type Restorer interface {
	RestoreLinks(ctx context.Context, links []*store.Link) (top uint64, err error)
}

// restoreChunk is how many links go into one RestoreLinks.
const restoreChunk = 2000

// Restore writes the links of src (an export of the dataset before the
// loss, or of a running edge's table) through r and returns how many it
// wrote and the highest version among them. Every row is validated (the
// structure: the destination policy of today is not applied to links
// stored before), and reported to report when it fails. A file with a bad
// row is an error once read to its end, so that the caller does not give
// the dataset its id back: the file is fixed and the restore run again (it
// replaces what the first run wrote).
func Restore(ctx context.Context, r Restorer, src Source, report io.Writer) (n int, top uint64, err error) {
	var (
		chunk []*store.Link
		bad   int
		seen  = map[string]int{}
	)
	flush := func() error {
		if bad > 0 || len(chunk) == 0 {
			chunk = chunk[:0]
			return nil
		}
		t, err := r.RestoreLinks(ctx, chunk)
		if err != nil {
			return fmt.Errorf("the restore stopped after %d links: %w", n, err)
		}
		top, n, chunk = max(top, t), n+len(chunk), chunk[:0]
		return nil
	}
	for {
		l, line, rowErr, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, top, fmt.Errorf("line %d: %w; nothing was restored", line, err)
		}
		if rowErr == nil {
			rowErr = l.Validate()
		}
		if rowErr == nil {
			if first, dup := seen[l.Key()]; dup {
				rowErr = store.Errorf(store.ECONFLICT, "the same code and domain as line %d", first)
			}
			seen[l.Key()] = line
		}
		if rowErr != nil {
			fmt.Fprintf(report, "line %d: %s\n", line, store.ErrorMessage(rowErr))
			bad++
			continue
		}
		chunk = append(chunk, l)
		if len(chunk) >= restoreChunk {
			if err := flush(); err != nil {
				return n, top, err
			}
		}
	}
	if err := flush(); err != nil {
		return n, top, err
	}
	if bad > 0 {
		return n, top, fmt.Errorf("%d rows failed: the dataset was not restored (its id is not back, so edges keep their tables and writes stay refused); fix the file and run the restore again", bad)
	}
	return n, top, nil
}
