package main

import (
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
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/linkfile"
	"github.com/qredge/qredge/store/redisstore"
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
	fromEdge             string // export only: an edge's admin listener
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
	if given["api"] || given["data-dir"] || given["redis"] || given["from-edge"] {
		for name, v := range map[string]*string{"api": &t.api, "data-dir": &t.dataDir, "redis": &t.redis.Addr, "from-edge": &t.fromEdge} {
			if !given[name] {
				*v = ""
			}
		}
	}
	n := 0
	for _, v := range []string{t.api, t.dataDir, t.redis.Addr, t.fromEdge} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		if t.fromEdge != "" {
			return errors.New("give exactly one of --api URL, --data-dir DIR, --redis ADDR and --from-edge URL")
		}
		return errors.New("give exactly one of --api URL, --data-dir DIR and --redis ADDR")
	}
	if t.fromEdge != "" {
		u, err := url.Parse(t.fromEdge)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--from-edge %q: want the URL of an edge's admin listener, such as http://10.0.0.5:9090", t.fromEdge)
		}
		return nil
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
	case t.fromEdge != "":
		return &edgeLinks{base: strings.TrimSuffix(t.fromEdge, "/"), http: &http.Client{}}, nil
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
	ls interface {
		store.LinkStore
		store.BulkCreator
	}
	c io.Closer
}

func (s storeLinks) createLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	_, errs, err := s.ls.CreateLinks(ctx, links, atomic)
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

// do sends a request, and again after a wait when the API answers 429.
func (a *apiLinks) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		resp, b, err := a.doOnce(ctx, method, path, body)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == maxRateLimitRetries {
			return resp, b, err
		}
		if err := waitRetryAfter(ctx, resp); err != nil {
			return nil, nil, err
		}
	}
}

func (a *apiLinks) doOnce(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
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
	in := make([]*linkfile.Input, len(links))
	for i, l := range links {
		in[i] = linkfile.InputOf(l)
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
			e := &store.Error{Code: r.Code, Message: r.Detail, Fields: r.Errors}
			if r.Code != store.EINVALID && len(r.Errors) == 1 {
				// A conflict: the message names the code already.
				e.Message, e.Fields = r.Errors[0].Message, nil
			}
			errs[r.Index] = e
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
