package linkio

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/qredge/qredge/store"
)

// Creator creates links: a store (Store) or the API (api/client).
type Creator interface {
	// CreateLinks creates valid links with no (domain, code) twice and
	// returns why each was not created, nil for the created ones. When
	// atomic and any failed, none was created. The error is for the call.
	CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error)
}

// ImportConfig is the configuration of an Importer.
type ImportConfig struct {
	// Chunk is how many rows go into one CreateLinks, 1 to
	// store.MaxBulkLinks.
	Chunk int
	// Atomic makes each chunk all or nothing: a failed row keeps the
	// other rows of its chunk out.
	Atomic bool
	// Policy is the destination policy every row is validated against
	// (nil: the link model only).
	Policy *store.DestinationPolicy
	// Progress, when set, is called with the counts after each chunk.
	Progress func(Counts)
	// Upsert updates the links whose (domain, code) exists already,
	// instead of failing those rows; the Creator must be an Updater. Not
	// with Atomic.
	Upsert bool
}

// Updater replaces a link that exists, keeping its creation time: what an
// upsert needs besides creating.
type Updater interface {
	UpdateLink(ctx context.Context, l *store.Link) error
}

// DefaultImportConfig returns the defaults: chunks of 1,000 rows, every
// valid row imported.
func DefaultImportConfig() ImportConfig { return ImportConfig{Chunk: 1000} }

// Counts are the rows an import read and what became of them.
type Counts struct {
	Rows     int // read
	Imported int // created (or, in a dry run, valid)
	Failed   int // invalid, or refused by the Creator
	Skipped  int // valid but not created: their atomic chunk had a failure
	Updated  int // existed and were updated (Upsert)
}

// Importer reads rows, validates them and creates them in chunks,
// reporting each failed row.
type Importer struct {
	cfg    ImportConfig
	to     Creator // nil for a dry run
	report io.Writer

	seen map[string]int // line of each (domain, code) seen valid

	// The chunk being filled: its row count, valid links, their lines,
	// and its failures.
	n        int
	links    []*store.Link
	lines    []int
	failures []failure

	counts Counts
}

type failure struct {
	line int
	msg  string
}

// NewImporter returns an importer into to (nil for a dry run, which
// validates only) that writes a line to report for each failed row
// ("line 7: code \"x\": ..."), in line order chunk by chunk.
func NewImporter(cfg ImportConfig, to Creator, report io.Writer) *Importer {
	if cfg.Chunk < 1 || cfg.Chunk > store.MaxBulkLinks {
		panic(fmt.Sprintf("BUG: import chunk %d out of 1..%d", cfg.Chunk, store.MaxBulkLinks))
	}
	return &Importer{cfg: cfg, to: to, report: report, seen: map[string]int{}}
}

// Counts returns the counts so far.
func (im *Importer) Counts() Counts { return im.counts }

func (im *Importer) fail(line int, l *store.Link, err error) {
	msg := store.ErrorMessage(err)
	if store.ErrorCode(err) == store.EINTERNAL {
		msg = err.Error()
	}
	if l != nil && l.Code != "" {
		code := l.Code
		if !store.IsValidCodeBytes([]byte(code)) {
			code = strconv.Quote(code)
		}
		msg = "code " + code + ": " + msg
	}
	im.failures = append(im.failures, failure{line, fmt.Sprintf("line %d: %s", line, msg)})
	im.counts.Failed++
}

// Run imports every row of src. Rows that fail are reported and counted,
// not returned; the error is for what stops the import: a syntax error in
// the file (the rows before it are imported) or a failed CreateLinks.
func (im *Importer) Run(ctx context.Context, src Source) error {
	for {
		l, line, rowErr, err := src.Next()
		if err == io.EOF {
			return im.flush(ctx)
		}
		im.counts.Rows++
		im.n++
		if err != nil {
			// A syntax error: the rows read so far go as usual.
			im.fail(line, nil, err)
			if ferr := im.flush(ctx); ferr != nil {
				return ferr
			}
			return fmt.Errorf("line %d: the rest of the file was not read", line)
		}
		im.add(l, line, rowErr)
		if im.n >= im.cfg.Chunk {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
}

func (im *Importer) add(l *store.Link, line int, rowErr error) {
	if rowErr != nil {
		im.fail(line, l, rowErr)
		return
	}
	if l.Code == "" {
		l.Code = store.NewCode()
	}
	if err := im.cfg.Policy.ValidateLink(l); err != nil {
		im.fail(line, l, err)
		return
	}
	key := l.Key()
	if first, dup := im.seen[key]; dup {
		im.fail(line, l, store.Errorf(store.ECONFLICT, "the same code and domain as line %d", first))
		return
	}
	im.seen[key] = line
	im.links = append(im.links, l)
	im.lines = append(im.lines, line)
}

// flush creates the links of the chunk and reports its failures in line
// order.
func (im *Importer) flush(ctx context.Context) error {
	defer func() {
		if im.cfg.Progress != nil {
			defer func() { im.cfg.Progress(im.counts) }()
		}
		sort.SliceStable(im.failures, func(i, j int) bool { return im.failures[i].line < im.failures[j].line })
		for _, f := range im.failures {
			fmt.Fprintln(im.report, f.msg)
		}
		im.n, im.links, im.lines, im.failures = 0, im.links[:0], im.lines[:0], im.failures[:0]
	}()
	switch {
	case len(im.links) == 0:
		return nil
	case im.to == nil:
		im.counts.Imported += len(im.links)
		return nil
	case im.cfg.Atomic && len(im.failures) > 0:
		im.counts.Skipped += len(im.links)
		return nil
	}
	errs, err := im.to.CreateLinks(ctx, im.links, im.cfg.Atomic)
	if err != nil {
		return fmt.Errorf("lines %d-%d: cannot create links, the import stopped there: %w", im.lines[0], im.lines[len(im.lines)-1], err)
	}
	failed := 0
	up, upsert := im.to.(Updater)
	for i, err := range errs {
		if err != nil && upsert && im.cfg.Upsert && !im.cfg.Atomic && store.ErrorCode(err) == store.ECONFLICT {
			if err = up.UpdateLink(ctx, im.links[i]); err == nil {
				im.counts.Updated++
				failed++ // not imported: updated
				continue
			}
		}
		if err != nil {
			im.fail(im.lines[i], im.links[i], err)
			failed++
		}
	}
	if im.cfg.Atomic && failed > 0 {
		im.counts.Skipped += len(im.links) - failed
	} else {
		im.counts.Imported += len(im.links) - failed
	}
	return nil
}
