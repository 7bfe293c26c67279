package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
	"github.com/qredge/qredge/store/snapshot"
)

// formatOf returns the format of --format, else of the file name's
// extension, else def.
func formatOf(flagValue, name, def string) (string, error) {
	switch flagValue {
	case "csv", "jsonl":
		return flagValue, nil
	case "":
	default:
		return "", fmt.Errorf("--format %q: want csv or jsonl", flagValue)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return "csv", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	}
	if def == "" {
		return "", fmt.Errorf("cannot tell the format of %q by its extension (.csv, .jsonl or .ndjson): give --format csv or --format jsonl", name)
	}
	return def, nil
}

// linkSource reads the links of an import file.
type linkSource interface {
	// next returns the next link and the line it starts on, or io.EOF. A
	// rowErr fails that row only (the link, if any, names it); a fatal
	// error ends the file.
	next() (l *store.Link, line int, rowErr, fatal error)
}

// snapshotSource gives the links of a snapshot (decoded in full first:
// a damaged snapshot restores nothing); line is the link's position.
type snapshotSource struct {
	links []*store.Link
	i     int
}

func newSnapshotSource(m snapshot.Meta, frames [][]byte) (*snapshotSource, error) {
	s := &snapshotSource{links: make([]*store.Link, 0, m.Links)}
	err := snapshot.Decode(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), 0,
		func(ls []*store.Link) { s.links = append(s.links, ls...) })
	return s, err
}

func (s *snapshotSource) next() (*store.Link, int, error, error) {
	if s.i == len(s.links) {
		return nil, s.i, nil, io.EOF
	}
	s.i++
	return s.links[s.i-1], s.i, nil, nil
}

type csvSource struct{ r *linkfile.CSVReader }

func (s csvSource) next() (*store.Link, int, error, error) {
	l, err := s.r.Read()
	var re *linkfile.RowError
	if errors.As(err, &re) {
		return l, re.Line, &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: re.Fields}, nil
	}
	return l, s.r.Line(), nil, err
}

// jsonlSource reads JSON lines.
type jsonlSource struct{ r *linkfile.JSONLReader }

func (s jsonlSource) next() (*store.Link, int, error, error) {
	l, err := s.r.Read()
	var le *linkfile.LineError
	if errors.As(err, &le) {
		return l, le.Line, le.Err, nil
	}
	return l, s.r.Line(), nil, err
}

func runLinksImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("links import", "qredge links import FILE (--api URL | --data-dir DIR | --redis ADDR) [flags]", stderr)
	var t linksTarget
	t.register(fs)
	format := fs.String("format", "", "csv or jsonl (default: by FILE's extension: .csv, .jsonl or .ndjson)")
	chunk := fs.Int("chunk", 1000, fmt.Sprintf("rows per bulk creation, 1 to %d", store.MaxBulkLinks))
	atomic := fs.Bool("atomic", false, "all or nothing per chunk (not per file): a failed row keeps the other rows of its chunk out; default: every valid row is imported")
	dryRun := fs.Bool("dry-run", false, "read and validate only; write nothing")
	restore := fs.Bool("restore", false, "restore a lost link dataset into Redis (--redis only): links keep their versions and times, and the dataset gets its id back (docs/runbook.md#qredgeredisdatasetlost)")
	datasetID := fs.String("dataset-id", "", "with --restore or --snapshot: the id of the lost dataset (default: the one edges reported lost, or the snapshot's)")
	snapFile := fs.String("snapshot", "", "restore a lost link dataset into Redis (--redis only) from an edge's local snapshot (links.snap in its --snapshot-dir) instead of FILE: like --restore, with the snapshot's dataset id")
	// The destination policy of the API, for the targets that bypass it
	// (--data-dir, --redis) and for --dry-run; through --api the server
	// applies its own as well.
	policy := defaultPolicyFlags()
	policy.register(fs)
	publicURL := fs.String("public-url", "", "scheme and host of the short links, such as https://go.example.com: links to it are refused (a redirect loop), as by the API")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := policy.Check(); err != nil {
		return err
	}
	if err := checkPublicURL(*publicURL); err != nil {
		return err
	}
	if *snapFile != "" {
		if fs.NArg() != 0 {
			return errors.New("--snapshot FILE takes the place of the import FILE: give one or the other")
		}
		if err := t.check(args); err != nil {
			return err
		}
		if t.redis.Addr == "" || *dryRun || *restore {
			return errors.New("--snapshot restores straight into Redis: give --redis ADDR (and no --dry-run or --restore)")
		}
		m, frames, err := snapshot.ReadFile(*snapFile)
		if err != nil {
			return fmt.Errorf("--snapshot %s: %w", *snapFile, err)
		}
		id := *datasetID
		if id == "" {
			id = m.Dataset
		}
		src, err := newSnapshotSource(m, frames)
		if err != nil {
			return fmt.Errorf("--snapshot %s: %w", *snapFile, err)
		}
		fmt.Fprintf(stderr, "snapshot %s: %d links of dataset %s, taken %s\n", *snapFile, m.Links, m.Dataset, m.Created.Format(time.RFC3339))
		return restoreLinks(ctx, t.redis, id, src, stdout, stderr)
	}
	if fs.NArg() != 1 {
		return errors.New("import needs exactly one FILE (- for stdin)")
	}
	name := fs.Arg(0)
	if err := t.check(args); err != nil {
		return err
	}
	if *restore && (t.redis.Addr == "" || *dryRun) {
		return errors.New("--restore writes straight into Redis: give --redis ADDR (and no --dry-run)")
	}
	if *datasetID != "" && !*restore {
		return errors.New("--dataset-id goes with --restore")
	}
	if *chunk < 1 || *chunk > store.MaxBulkLinks {
		return fmt.Errorf("--chunk must be between 1 and %d", store.MaxBulkLinks)
	}
	if name == "-" && *format == "" {
		return errors.New("give --format csv or --format jsonl to read stdin")
	}
	f, err := formatOf(*format, name, "")
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	var src linkSource
	if f == "csv" {
		r, err := linkfile.NewCSVReader(in)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		src = csvSource{r}
	} else {
		src = jsonlSource{linkfile.NewJSONLReader(in, *restore)}
	}
	if *restore {
		return restoreLinks(ctx, t.redis, *datasetID, src, stdout, stderr)
	}
	var be linksBackend
	if !*dryRun {
		if be, err = t.open(ctx, true); err != nil {
			return err
		}
		defer be.close()
	}
	im := &importer{be: be, chunk: *chunk, atomic: *atomic, stderr: stderr, seen: map[string]int{}, policy: policy.policy(*publicURL)}
	start := time.Now()
	err = im.run(ctx, src)
	el := time.Since(start)
	rate := float64(im.imported) / el.Seconds()
	switch {
	case *dryRun:
		fmt.Fprintf(stdout, "dry run: %d links valid, %d failed, in %s\n", im.imported, im.failed, el.Round(time.Millisecond))
	case im.skipped > 0:
		fmt.Fprintf(stdout, "imported %d links, %d failed, %d valid ones not imported because their chunk had a failure (--atomic), in %s (%.0f links/s)\n",
			im.imported, im.failed, im.skipped, el.Round(time.Millisecond), rate)
	default:
		fmt.Fprintf(stdout, "imported %d links, %d failed, in %s (%.0f links/s)\n", im.imported, im.failed, el.Round(time.Millisecond), rate)
	}
	if err != nil {
		return err
	}
	if im.failed > 0 || im.skipped > 0 {
		return fmt.Errorf("%d of %d rows failed", im.failed, im.rows)
	}
	return nil
}

// importer reads rows, validates them and creates them in chunks.
type importer struct {
	be     linksBackend // nil for a dry run
	chunk  int
	atomic bool
	stderr io.Writer
	policy *store.DestinationPolicy

	seen map[string]int // line of each (domain, code) seen valid

	// The chunk being filled: its row count, valid links, their lines,
	// and its failures.
	n        int
	links    []*store.Link
	lines    []int
	failures []failure

	rows, imported, failed, skipped int
}

type failure struct {
	line int
	msg  string
}

func (im *importer) fail(line int, l *store.Link, err error) {
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
	im.failed++
}

func (im *importer) run(ctx context.Context, src linkSource) error {
	for {
		l, line, rowErr, err := src.next()
		if err == io.EOF {
			return im.flush(ctx)
		}
		im.rows++
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
		if im.n >= im.chunk {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
}

func (im *importer) add(l *store.Link, line int, rowErr error) {
	if rowErr != nil {
		im.fail(line, l, rowErr)
		return
	}
	if l.Code == "" {
		l.Code = store.NewCode()
	}
	if err := im.policy.ValidateLink(l); err != nil {
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
func (im *importer) flush(ctx context.Context) error {
	defer func() {
		sort.SliceStable(im.failures, func(i, j int) bool { return im.failures[i].line < im.failures[j].line })
		for _, f := range im.failures {
			fmt.Fprintln(im.stderr, f.msg)
		}
		im.n, im.links, im.lines, im.failures = 0, im.links[:0], im.lines[:0], im.failures[:0]
	}()
	switch {
	case len(im.links) == 0:
		return nil
	case im.be == nil:
		im.imported += len(im.links)
		return nil
	case im.atomic && len(im.failures) > 0:
		im.skipped += len(im.links)
		return nil
	}
	errs, err := im.be.createLinks(ctx, im.links, im.atomic)
	if err != nil {
		return fmt.Errorf("lines %d-%d: cannot create links, the import stopped there: %w", im.lines[0], im.lines[len(im.lines)-1], err)
	}
	failed := 0
	for i, err := range errs {
		if err != nil {
			im.fail(im.lines[i], im.links[i], err)
			failed++
		}
	}
	if im.atomic && failed > 0 {
		im.skipped += len(im.links) - failed
	} else {
		im.imported += len(im.links) - failed
	}
	return nil
}
