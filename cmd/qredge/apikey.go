package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qredge/qredge/api/client"
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
	CreateKey(ctx context.Context, name, scope string) (secret string, k *store.APIKey, err error)
	ListKeys(ctx context.Context) ([]*store.APIKey, error)
	RevokeKey(ctx context.Context, id string) error
	Close() error
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
		cfg := client.DefaultConfig()
		cfg.URL, cfg.APIKey, cfg.Timeout = strings.TrimSuffix(server, "/"), adminKey, 30*time.Second
		c = remoteKeys{client.New(cfg)}
	} else {
		db, err := boltstore.Open(dataDir)
		if err != nil {
			return fmt.Errorf("%w\n(to manage keys of a running server, pass --server and --api-key)", err)
		}
		c = localKeys{db}
	}
	defer c.Close()

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
		secret, k, err := c.CreateKey(ctx, name, scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key id=%s name=%q scope=%s; the key is printed once, below\n", k.ID, k.Name, k.Scope)
		fmt.Fprintln(stdout, secret)
	case "list":
		keys, err := c.ListKeys(ctx)
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
		if err := c.RevokeKey(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked key %s\n", fs.Arg(0))
	default:
		fmt.Fprintf(stderr, "unknown apikey command %q\nUsage: %s\n", sub, apikeyUsage)
		return cli.ErrUsage
	}
	return nil
}

// localKeys are the keys of a data directory.
type localKeys struct{ *boltstore.DB }

func (l localKeys) CreateKey(ctx context.Context, name, scope string) (string, *store.APIKey, error) {
	return store.CreateAPIKey(ctx, l.DB, name, scope)
}

// remoteKeys are the keys of a running server, through its API.
type remoteKeys struct{ *client.Client }

func (r remoteKeys) CreateKey(ctx context.Context, name, scope string) (string, *store.APIKey, error) {
	secret, k, err := r.Client.CreateKey(ctx, name, scope)
	return secret, k, serverError(err)
}

func (r remoteKeys) ListKeys(ctx context.Context) ([]*store.APIKey, error) {
	keys, err := r.Client.ListKeys(ctx)
	return keys, serverError(err)
}

func (r remoteKeys) RevokeKey(ctx context.Context, id string) error {
	return serverError(r.Client.RevokeKey(ctx, id))
}

func (r remoteKeys) Close() error { return nil }

// serverError names --server in the error of a URL no request can be made
// of.
func serverError(err error) error {
	var ue *client.URLError
	if errors.As(err, &ue) {
		return fmt.Errorf("invalid --server: %w", ue.Err)
	}
	return err
}
