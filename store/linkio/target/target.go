// Package target is where 'qredge links' imports links to and exports
// them from: exactly one of a qredge API, a data directory (the embedded
// store), Redis, and (export only) an edge's table, each named by a flag.
package target

import (
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
	"strings"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/linkfile"
	"github.com/qredge/qredge/store/linkio"
	"github.com/qredge/qredge/store/redisstore"
)

// Config names the target.
type Config struct {
	API, APIKey, DataDir string
	Redis                cli.RedisFlags
	FromEdge             string // export only: an edge's admin listener
}

// RegisterFlags adds --server (and --api, its older name), --api-key, --data-dir and the --redis flags,
// and --from-edge for an export; a target given on the command line wins
// over another from the environment.
func (c *Config) RegisterFlags(fs *flag.FlagSet, export bool) {
	fs.StringVar(&c.API, "server", "", "base URL of a running 'qredge api' or 'qredge serve', such as http://localhost:8080")
	fs.StringVar(&c.API, "api", "", "the older name of --server")
	fs.StringVar(&c.APIKey, "api-key", "", "API key for --server (write scope to import, read to export)")
	fs.StringVar(&c.DataDir, "data-dir", "", "embedded store (qredge serve's --data-dir) while no qredge serve runs on it")
	c.Redis = cli.DefaultRedisFlags()
	c.Redis.Register(fs)
	if export {
		fs.StringVar(&c.FromEdge, "from-edge", "", "the admin listener of a running 'qredge edge' (its --admin-listen), such as http://10.0.0.5:9090: every link its table holds, with versions and times, to restore a lost Redis")
	}
	cli.Exclusive(fs, "server", "api", "data-dir", "redis", "from-edge")
}

// Check wants exactly one target.
func (c *Config) Check() error {
	n := 0
	for _, v := range []string{c.API, c.DataDir, c.Redis.Addr, c.FromEdge} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		if c.FromEdge != "" {
			return errors.New("give exactly one of --server URL, --data-dir DIR, --redis ADDR and --from-edge URL")
		}
		return errors.New("give exactly one of --server URL, --data-dir DIR and --redis ADDR")
	}
	switch {
	case c.FromEdge != "":
		if !httpURL(c.FromEdge) {
			return fmt.Errorf("--from-edge %q: want the URL of an edge's admin listener, such as http://10.0.0.5:9090", c.FromEdge)
		}
	case c.API != "":
		if !httpURL(c.API) {
			return fmt.Errorf("--server %q: want a URL such as http://localhost:8080", c.API)
		}
		if c.APIKey == "" {
			return errors.New("--server needs an API key in --api-key (or QREDGE_API_KEY)")
		}
	case c.Redis.Addr != "":
		return c.Redis.Check()
	}
	return nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// Backend is what import and export need of a target.
type Backend interface {
	linkio.Creator
	linkio.Updater
	linkio.Lister
	io.Closer
}

// Open opens the target (not --from-edge). An export (!create) refuses a
// data directory without a store, where a typo would export nothing.
func (c *Config) Open(ctx context.Context, create bool) (Backend, error) {
	switch {
	case c.API != "":
		cfg := client.DefaultConfig()
		cfg.URL, cfg.APIKey = strings.TrimSuffix(c.API, "/"), c.APIKey
		return apiLinks{client.New(cfg)}, nil
	case c.DataDir != "":
		if _, err := os.Stat(filepath.Join(c.DataDir, boltstore.FileName)); !create && err != nil {
			return nil, fmt.Errorf("--data-dir %s holds no qredge store: %w", c.DataDir, err)
		}
		db, err := boltstore.Open(c.DataDir)
		if err != nil {
			return nil, fmt.Errorf("%w\n(to reach the links of a running qredge serve, pass --server URL and --api-key)", err)
		}
		return storeLinks{linkio.Store{S: db}, db}, nil
	}
	s, err := redisstore.Open(ctx, c.Redis.Config())
	if err != nil {
		return nil, err
	}
	return storeLinks{linkio.Store{S: s}, s}, nil
}

// OpenLister opens the target of an export: Open's, or the edge's table
// of --from-edge (edge is nil otherwise).
func (c *Config) OpenLister(ctx context.Context) (from linkio.Lister, edge *client.EdgeTable, closer io.Closer, err error) {
	if c.FromEdge == "" {
		be, err := c.Open(ctx, false)
		return be, nil, be, err
	}
	cfg := client.Config{URL: strings.TrimSuffix(c.FromEdge, "/")}
	edge = client.NewEdgeTable(cfg)
	return edgeLister{edge, cfg.URL}, edge, io.NopCloser(nil), nil
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

// UpdateLink replaces the link through the API (PATCH with every field),
// keeping its creation time (an upsert).
func (a apiLinks) UpdateLink(ctx context.Context, l *store.Link) error {
	path := "/api/v1/links/" + url.PathEscape(l.Code)
	if l.Domain != "" {
		path += "?domain=" + url.QueryEscape(l.Domain)
	}
	// A merge patch of every field: those the row leaves out are null, so
	// the link is replaced, as a store's UpdateLink does.
	b, err := json.Marshal(linkfile.InputOf(l))
	if err != nil {
		return err
	}
	patch := map[string]any{}
	if err := json.Unmarshal(b, &patch); err != nil {
		return err
	}
	// A row without password or password_hash keeps the link's password:
	// exports through the API carry no hash, and a row must not remove a
	// protection by leaving it out.
	for _, f := range []string{"status", "rules", "variants", "schedule", "forward_query", "query_precedence", "disabled", "tags",
		"title", "notes", "gone_url", "max_scans", "max_scans_include_bots"} {
		if _, ok := patch[f]; !ok {
			patch[f] = nil
		}
	}
	_, _, err = a.Client.Call(ctx, "PATCH", path, patch)
	return err
}

// edgeLister is an edge's table; an answer other than 200 most likely
// comes from a listener that is not its admin listener.
type edgeLister struct {
	*client.EdgeTable
	base string
}

func (e edgeLister) ForEachLink(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	err := e.EdgeTable.ForEachLink(ctx, tag, fn)
	var ae *client.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("the edge answered %s: %s (is %s its admin listener, --admin-listen?)", ae.Status, ae.Body, e.base)
	}
	return err
}
