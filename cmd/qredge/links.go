package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/linkcsv"
	"github.com/qredge/qredge/store/redisstore"
)

const linksUsage = `Usage:
  qredge links import FILE (--api URL | --data-dir DIR | --redis ADDR) [--format csv|jsonl] [--chunk 1000] [--atomic] [--dry-run]
  qredge links export (--api URL | --data-dir DIR | --redis ADDR) [--format csv|jsonl] [--tag T] [--output FILE]

FILE is CSV with a header row or JSON lines (one link object a line), by
its extension or --format; "-" is stdin. --data-dir opens the embedded
store, which a running 'qredge serve' keeps locked: use --api then.
See docs/links-import-export.md. Run 'qredge links <command> --help' for the flags.
`

func runLinks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, linksUsage)
		return errUsage
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
	return errUsage
}

// linksTarget is where links are imported to or exported from: exactly one
// of a qredge API, a data directory and Redis.
type linksTarget struct {
	api, apiKey, dataDir string
	redis                RedisFlags
}

func (t *linksTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&t.api, "api", "", "base URL of a running 'qredge api' or 'qredge serve', such as http://localhost:8080")
	fs.StringVar(&t.apiKey, "api-key", "", "API key for --api (write scope to import, read to export)")
	fs.StringVar(&t.dataDir, "data-dir", "", "embedded store (qredge serve's --data-dir) while no qredge serve runs on it")
	t.redis = defaultRedisFlags()
	t.redis.register(fs)
}

// check keeps the targets given on the command line args over those from
// the environment, then wants exactly one.
func (t *linksTarget) check(args []string) error {
	given := map[string]bool{}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			given[name] = true
		}
	}
	if given["api"] || given["data-dir"] || given["redis"] {
		for name, v := range map[string]*string{"api": &t.api, "data-dir": &t.dataDir, "redis": &t.redis.Addr} {
			if !given[name] {
				*v = ""
			}
		}
	}
	n := 0
	for _, v := range []string{t.api, t.dataDir, t.redis.Addr} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --api URL, --data-dir DIR and --redis ADDR")
	}
	if t.api != "" {
		u, err := url.Parse(t.api)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--api %q: want a URL such as http://localhost:8080", t.api)
		}
		if t.apiKey == "" {
			return errors.New("--api needs an API key in --api-key (or QREDGE_API_KEY)")
		}
	}
	if t.redis.Addr != "" {
		return t.redis.Check()
	}
	return nil
}

// linksBackend is what import and export need of a target.
type linksBackend interface {
	// createLinks creates valid links with no (domain, code) twice and
	// returns why each was not created, nil for the created ones. When
	// atomic and any failed, none was created. The error is for the call.
	createLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error)
	// forEach calls fn for every link (with tag, when not empty) and, from
	// the API, its JSON as the API returned it.
	forEach(ctx context.Context, tag string, fn func(l *store.Link, raw json.RawMessage) error) error
	close() error
}

// open opens the target. An export (!create) refuses a data directory
// without a store, where a typo would export nothing.
func (t *linksTarget) open(ctx context.Context, create bool) (linksBackend, error) {
	switch {
	case t.api != "":
		return &apiLinks{base: strings.TrimSuffix(t.api, "/"), key: t.apiKey, http: &http.Client{Timeout: 5 * time.Minute}}, nil
	case t.dataDir != "":
		if _, err := os.Stat(filepath.Join(t.dataDir, boltstore.FileName)); !create && err != nil {
			return nil, fmt.Errorf("--data-dir %s holds no qredge store: %w", t.dataDir, err)
		}
		db, err := boltstore.Open(t.dataDir)
		if err != nil {
			return nil, fmt.Errorf("%w\n(to reach the links of a running qredge serve, pass --api URL and --api-key)", err)
		}
		return storeLinks{db, db}, nil
	}
	s, err := redisstore.Open(ctx, t.redis.config())
	if err != nil {
		return nil, err
	}
	return storeLinks{s, s}, nil
}

// storeLinks is a store opened by this process.
type storeLinks struct {
	ls store.LinkStore
	c  io.Closer
}

func (s storeLinks) createLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	bc, ok := s.ls.(store.BulkCreator)
	if !ok {
		// One link at a time: slow, and never atomic.
		if atomic {
			return nil, errors.New("this store cannot create links atomically: leave out --atomic")
		}
		errs := make([]error, len(links))
		for i, l := range links {
			if _, errs[i] = s.ls.CreateLink(ctx, l); store.ErrorCode(errs[i]) == store.EUNAVAILABLE || ctx.Err() != nil {
				return nil, errs[i]
			}
		}
		return errs, nil
	}
	_, errs, err := bc.CreateLinks(ctx, links, atomic)
	return errs, err
}

func (s storeLinks) forEach(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	return s.ls.ForEachLink(ctx, func(l *store.Link) error {
		if tag != "" && !slices.Contains(l.Tags, tag) {
			return nil
		}
		return fn(l, nil)
	})
}

func (s storeLinks) close() error { return s.c.Close() }

// apiLinks is a qredge API.
type apiLinks struct {
	base, key string
	http      *http.Client
}

// linkBody is a link as the API takes it: without the fields the server
// sets.
type linkBody struct {
	Code            string          `json:"code,omitempty"`
	Domain          string          `json:"domain,omitempty"`
	Destination     string          `json:"destination"`
	Status          int             `json:"status,omitempty"`
	Rules           []store.Rule    `json:"rules,omitempty"`
	Variants        []store.Variant `json:"variants,omitempty"`
	Schedule        *store.Schedule `json:"schedule,omitempty"`
	ForwardQuery    bool            `json:"forward_query,omitempty"`
	QueryPrecedence string          `json:"query_precedence,omitempty"`
	Disabled        bool            `json:"disabled,omitempty"`
	Tags            []string        `json:"tags,omitempty"`
}

// bulkAnswer is the answer of POST /api/v1/links/bulk, and of a failed
// atomic one (problem+json with the results of the items at fault).
type bulkAnswer struct {
	Detail  string `json:"detail"`
	Results []struct {
		Index  int                `json:"index"`
		Status int                `json:"status"`
		Code   string             `json:"code"`
		Detail string             `json:"detail"`
		Errors []store.FieldError `json:"errors"`
	} `json:"results"`
}

func (a *apiLinks) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach %s: %w", a.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the answer of %s: %w", a.base, err)
	}
	return resp, b, nil
}

// answerError is the error of an answer that is not about single links.
func answerError(resp *http.Response, b []byte) error {
	var p struct{ Detail string }
	if json.Unmarshal(b, &p) == nil && p.Detail != "" {
		return fmt.Errorf("server answered %s: %s", resp.Status, p.Detail)
	}
	return fmt.Errorf("server answered %s", resp.Status)
}

func (a *apiLinks) createLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	in := make([]linkBody, len(links))
	for i, l := range links {
		in[i] = linkBody{Code: l.Code, Domain: l.Domain, Destination: l.Destination, Status: l.Status, Rules: l.Rules,
			Variants: l.Variants, Schedule: l.Schedule, ForwardQuery: l.ForwardQuery, QueryPrecedence: l.QueryPrecedence,
			Disabled: l.Disabled, Tags: l.Tags}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	resp, b, err := a.do(ctx, "POST", "/api/v1/links/bulk?atomic="+strconv.FormatBool(atomic), body)
	if err != nil {
		return nil, err
	}
	var ans bulkAnswer
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusConflict, http.StatusUnprocessableEntity:
		if json.Unmarshal(b, &ans) == nil && len(ans.Results) > 0 {
			break
		}
		fallthrough
	case http.StatusRequestEntityTooLarge:
		return nil, fmt.Errorf("%w (use a smaller --chunk)", answerError(resp, b))
	default:
		return nil, answerError(resp, b)
	}
	errs := make([]error, len(links))
	for _, r := range ans.Results {
		if r.Index < 0 || r.Index >= len(links) {
			return nil, fmt.Errorf("server answered a result for item %d of %d", r.Index, len(links))
		}
		if r.Status >= 300 {
			errs[r.Index] = &store.Error{Code: r.Code, Message: r.Detail, Fields: r.Errors}
		}
	}
	return errs, nil
}

func (a *apiLinks) forEach(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	q := url.Values{"limit": {strconv.Itoa(store.MaxListLimit)}}
	if tag != "" {
		q.Set("tag", tag)
	}
	for {
		resp, b, err := a.do(ctx, "GET", "/api/v1/links?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return answerError(resp, b)
		}
		var page struct {
			Links      []json.RawMessage `json:"links"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return fmt.Errorf("cannot decode a page of links: %w", err)
		}
		for _, raw := range page.Links {
			var l store.Link
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("cannot decode a link: %w", err)
			}
			if err := fn(&l, raw); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

func (a *apiLinks) close() error { return nil }

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

type csvSource struct{ r *linkcsv.Reader }

func (s csvSource) next() (*store.Link, int, error, error) {
	l, err := s.r.Read()
	var re *linkcsv.RowError
	if errors.As(err, &re) {
		return l, re.Line, &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: re.Fields}, nil
	}
	return l, s.r.Line(), nil, err
}

// jsonlSource reads one link object per line; blank lines are skipped.
type jsonlSource struct {
	sc   *bufio.Scanner
	line int
}

// maxJSONLine bounds one line of JSON lines: far above the largest valid
// link.
const maxJSONLine = 16 << 20

// jsonLine is a link as exported, with the fields the server sets decoded
// as raw values to be dropped.
type jsonLine struct {
	store.Link
	Version   json.RawMessage `json:"version"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	ShortURL  json.RawMessage `json:"short_url"`
	QRURL     json.RawMessage `json:"qr_url"`
}

func (s *jsonlSource) next() (*store.Link, int, error, error) {
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		if s.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")) // a byte order mark
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var jl jsonLine
		err := errors.New("want a JSON object, one link a line")
		if b[0] == '{' {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err = dec.Decode(&jl); err == nil {
				if _, terr := dec.Token(); terr != io.EOF {
					err = errors.New("data after the JSON object")
				}
			}
		}
		if err != nil {
			return &jl.Link, s.line, store.Errorf(store.EINVALID, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: ")), nil
		}
		return &jl.Link, s.line, nil, nil
	}
	if err := s.sc.Err(); err != nil {
		return nil, s.line + 1, nil, fmt.Errorf("cannot read line %d: %w", s.line+1, err)
	}
	return nil, s.line, nil, io.EOF
}

func runLinksImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("links import", "qredge links import FILE (--api URL | --data-dir DIR | --redis ADDR) [flags]", stderr)
	var t linksTarget
	t.register(fs)
	format := fs.String("format", "", "csv or jsonl (default: by FILE's extension: .csv, .jsonl or .ndjson)")
	chunk := fs.Int("chunk", 1000, fmt.Sprintf("rows per bulk creation, 1 to %d", store.MaxBulkLinks))
	atomic := fs.Bool("atomic", false, "all or nothing per chunk (not per file): a failed row keeps the other rows of its chunk out; default: every valid row is imported")
	dryRun := fs.Bool("dry-run", false, "read and validate only; write nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("import needs exactly one FILE (- for stdin)")
	}
	name := fs.Arg(0)
	if err := t.check(args); err != nil {
		return err
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
		r, err := linkcsv.NewReader(in)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		src = csvSource{r}
	} else {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), maxJSONLine)
		src = &jsonlSource{sc: sc}
	}
	var be linksBackend
	if !*dryRun {
		if be, err = t.open(ctx, true); err != nil {
			return err
		}
		defer be.close()
	}
	im := &importer{be: be, chunk: *chunk, atomic: *atomic, stderr: stderr, seen: map[string]int{}}
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
	if err := l.Validate(); err != nil {
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

func runLinksExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("links export", "qredge links export (--api URL | --data-dir DIR | --redis ADDR) [flags]", stderr)
	var t linksTarget
	t.register(fs)
	format := fs.String("format", "", "csv or jsonl (default: by --output's extension, else csv)")
	tag := fs.String("tag", "", "only the links with this tag")
	output := fs.String("output", "", "write to this file (replaced when the export is complete) instead of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
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
	fmt.Fprintf(stderr, "exported %d links in %s (%.0f links/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return nil
}

// exportLinks streams the links of be to w in format f.
func exportLinks(ctx context.Context, be linksBackend, tag, f string, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	var err error
	if f == "csv" {
		cw := linkcsv.NewWriter(bw)
		err = be.forEach(ctx, tag, func(l *store.Link, _ json.RawMessage) error {
			n++
			return cw.Write(l)
		})
		if err == nil {
			err = cw.Flush()
		}
	} else {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err = be.forEach(ctx, tag, func(l *store.Link, raw json.RawMessage) error {
			n++
			if raw != nil {
				bw.Write(raw)
				return bw.WriteByte('\n')
			}
			return enc.Encode(l)
		})
	}
	if err != nil {
		return n, fmt.Errorf("export stopped after %d links: %w", n, err)
	}
	return n, bw.Flush()
}
