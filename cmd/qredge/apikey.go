package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

const apikeyUsage = `qredge apikey create --name NAME [--scope read|write|admin] [flags]
       qredge apikey list [flags]
       qredge apikey revoke ID [flags]

Without --server the command opens the data directory, which a running
'qredge serve' keeps locked; with --server it uses that server's API and
needs an admin key in --api-key.`

// keyClient does what 'qredge apikey' needs, on a data directory or over the
// API of a running server.
type keyClient interface {
	create(ctx context.Context, name, scope string) (secret string, k *store.APIKey, err error)
	list(ctx context.Context) ([]*store.APIKey, error)
	revoke(ctx context.Context, id string) error
	close() error
}

func runAPIKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "Usage: %s\n", apikeyUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return nil
		}
		return cli.ErrUsage
	}
	sub := args[0]
	var dataDir, server, adminKey, name, scope string
	fs := cli.NewFlagSet("apikey "+sub, apikeyUsage, stderr)
	fs.StringVar(&dataDir, "data-dir", "./qredge-data", "directory of the embedded store")
	fs.StringVar(&server, "server", "", "base URL of a running qredge, such as http://localhost:8080; overrides --data-dir")
	fs.StringVar(&adminKey, "api-key", "", "an admin API key, with --server")
	fs.StringVar(&name, "name", "", "name of the new key (create)")
	fs.StringVar(&scope, "scope", store.ScopeWrite, "scope of the new key: read, write or admin (create)")
	if err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	var c keyClient
	if server != "" {
		if adminKey == "" {
			return errors.New("--server needs an admin key in --api-key (or QREDGE_API_KEY)")
		}
		c = &remoteKeys{base: strings.TrimSuffix(server, "/"), key: adminKey, http: &http.Client{Timeout: 30 * time.Second}}
	} else {
		db, err := boltstore.Open(dataDir)
		if err != nil {
			return fmt.Errorf("%w\n(to manage keys of a running server, pass --server and --api-key)", err)
		}
		c = localKeys{db}
	}
	defer c.close()

	switch sub {
	case "create":
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		if name == "" {
			return errors.New("create needs --name")
		}
		if !store.ValidScope(scope) {
			return fmt.Errorf("--scope %q: want read, write or admin", scope)
		}
		secret, k, err := c.create(ctx, name, scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key id=%s name=%q scope=%s; the key is printed once, below\n", k.ID, k.Name, k.Scope)
		fmt.Fprintln(stdout, secret)
	case "list":
		keys, err := c.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tPREFIX\tCREATED\tNAME")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\n", k.ID, k.Scope, k.Prefix, k.CreatedAt.Format(time.RFC3339), k.Name)
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("revoke needs exactly one key ID (see 'qredge apikey list')")
		}
		if err := c.revoke(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked key %s\n", fs.Arg(0))
	default:
		fmt.Fprintf(stderr, "unknown apikey command %q\nUsage: %s\n", sub, apikeyUsage)
		return cli.ErrUsage
	}
	return nil
}

type localKeys struct{ db *boltstore.DB }

func (l localKeys) create(ctx context.Context, name, scope string) (string, *store.APIKey, error) {
	secret, k := store.NewAPIKey()
	k.Name, k.Scope, k.CreatedAt = name, scope, time.Now().UTC()
	return secret, k, l.db.CreateKey(ctx, k)
}
func (l localKeys) list(ctx context.Context) ([]*store.APIKey, error) { return l.db.ListKeys(ctx) }
func (l localKeys) revoke(ctx context.Context, id string) error       { return l.db.RevokeKey(ctx, id) }
func (l localKeys) close() error                                      { return l.db.Close() }

type remoteKeys struct {
	base, key string
	http      *http.Client
}

func (r *remoteKeys) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return fmt.Errorf("invalid --server: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", r.base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var p struct{ Detail string }
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return fmt.Errorf("server answered %s: %s", resp.Status, p.Detail)
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("cannot decode server answer: %w", err)
		}
	}
	return nil
}

func (r *remoteKeys) create(ctx context.Context, name, scope string) (string, *store.APIKey, error) {
	var out struct {
		store.APIKey
		Key string `json:"key"`
	}
	err := r.do(ctx, "POST", "/api/v1/keys", map[string]string{"name": name, "scope": scope}, &out)
	return out.Key, &out.APIKey, err
}

func (r *remoteKeys) list(ctx context.Context) ([]*store.APIKey, error) {
	var out struct {
		Keys []*store.APIKey `json:"keys"`
	}
	err := r.do(ctx, "GET", "/api/v1/keys", nil, &out)
	return out.Keys, err
}

func (r *remoteKeys) revoke(ctx context.Context, id string) error {
	return r.do(ctx, "DELETE", "/api/v1/keys/"+id, nil, nil)
}

func (r *remoteKeys) close() error { return nil }
