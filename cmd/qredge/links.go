package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/linkio"
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

// linksTarget is where links are imported to or exported from: exactly one
// of a qredge API, a data directory and Redis.
type linksTarget struct {
	api, apiKey, dataDir string
	redis                cli.RedisFlags
	fromEdge             string // export only: an edge's admin listener
}

func (t *linksTarget) register(fs *flag.FlagSet) {
	fs.StringVar(&t.api, "api", "", "base URL of a running 'qredge api' or 'qredge serve', such as http://localhost:8080")
	fs.StringVar(&t.apiKey, "api-key", "", "API key for --api (write scope to import, read to export)")
	fs.StringVar(&t.dataDir, "data-dir", "", "embedded store (qredge serve's --data-dir) while no qredge serve runs on it")
	t.redis = cli.DefaultRedisFlags()
	t.redis.Register(fs)
	cli.Exclusive(fs, "api", "data-dir", "redis", "from-edge")
}

// check wants exactly one target (cli.Exclusive in register keeps one
// given on the command line over others from the environment).
func (t *linksTarget) check() error {
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
	linkio.Creator
	linkio.Lister
	io.Closer
}

// open opens the target (not --from-edge). An export (!create) refuses a
// data directory without a store, where a typo would export nothing.
func (t *linksTarget) open(ctx context.Context, create bool) (linksBackend, error) {
	switch {
	case t.api != "":
		cfg := client.DefaultConfig()
		cfg.URL, cfg.APIKey = strings.TrimSuffix(t.api, "/"), t.apiKey
		return apiLinks{client.New(cfg)}, nil
	case t.dataDir != "":
		if _, err := os.Stat(filepath.Join(t.dataDir, boltstore.FileName)); !create && err != nil {
			return nil, fmt.Errorf("--data-dir %s holds no qredge store: %w", t.dataDir, err)
		}
		db, err := boltstore.Open(t.dataDir)
		if err != nil {
			return nil, fmt.Errorf("%w\n(to reach the links of a running qredge serve, pass --api URL and --api-key)", err)
		}
		return storeLinks{linkio.Store{S: db}, db}, nil
	}
	s, err := redisstore.Open(ctx, t.redis.Config())
	if err != nil {
		return nil, err
	}
	return storeLinks{linkio.Store{S: s}, s}, nil
}

type storeLinks struct {
	linkio.Store
	io.Closer
}

// apiLinks is a qredge API: a bulk request it refuses whole is most
// likely too large for it.
type apiLinks struct{ *client.Client }

func (a apiLinks) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	errs, err := a.Client.CreateLinks(ctx, links, atomic)
	var ae *client.Error
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusOK, http.StatusCreated, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
			return nil, fmt.Errorf("%w (use a smaller --chunk)", err)
		}
	}
	return errs, err
}

func (a apiLinks) Close() error { return nil }
