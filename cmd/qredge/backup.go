package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qredge/qredge/api/client"
	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/store/boltstore"
)

const backupUsage = `qredge backup --out FILE (--server URL --api-key KEY | --data-dir DIR)

Writes a consistent copy of the embedded store (qredge.db: links, API keys,
audit log and stats) to FILE, checks it, and only then gives it its name.
With --server it asks a running 'qredge serve' (which holds the file
locked) through POST /api/v1/backup, with an admin key; with --data-dir it
reads a stopped server's data directory. To restore: stop serve, copy the
backup over <data-dir>/qredge.db, start serve.`

// BackupConfig is the configuration of 'qredge backup'.
type BackupConfig struct {
	Out     string
	Server  string
	APIKey  string
	DataDir string
	Timeout time.Duration
}

func (c *BackupConfig) RegisterFlags(fs flagRegistrar) {
	fs.StringVar(&c.Out, "out", c.Out, "file to write the backup to (written beside it first, renamed when checked)")
	fs.StringVar(&c.Server, "server", c.Server, "base URL of a running qredge serve, such as http://localhost:8080")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "an admin API key, with --server")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory of a stopped qredge serve (instead of --server)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "longest time the backup may take")
}

// Check returns an error naming the first invalid setting.
func (c *BackupConfig) Check() error {
	switch {
	case c.Out == "":
		return errors.New("--out is required")
	case c.Server == "" && c.DataDir == "":
		return errors.New("give --server (a running serve) or --data-dir (a stopped one)")
	case c.Server != "" && c.DataDir != "":
		return errors.New("give --server or --data-dir, not both")
	case c.Server != "" && c.APIKey == "":
		return errors.New("--server needs an admin key in --api-key (or QREDGE_API_KEY)")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := BackupConfig{Timeout: 30 * time.Minute}
	fs := cli.NewFlagSet("backup", backupUsage, stderr)
	cfg.RegisterFlags(fs)
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep, err := backup(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s: %d bytes, checked in %v\n", cfg.Out, rep.Size, rep.Took.Round(time.Millisecond))
	for _, b := range rep.Buckets {
		if b.Name == "links" || b.Name == "apikeys" {
			fmt.Fprintf(stdout, "  %s: %d\n", b.Name, b.Keys)
		}
	}
	if !rep.Healthy() {
		fmt.Fprintf(stdout, "warning: the copy carries the damage of the live file outside the links and keys: %s\n", rep.Summary())
	}
	return nil
}

// backup writes the copy to cfg.Out (see boltstore.WriteBackupFile).
func backup(ctx context.Context, cfg BackupConfig) (*boltstore.Report, error) {
	return boltstore.WriteBackupFile(cfg.Out, func(w io.Writer) error {
		if cfg.Server != "" {
			return fetchBackup(ctx, cfg, w)
		}
		return localBackup(cfg.DataDir, w)
	})
}

func containsAny(list []string, names ...string) bool {
	for _, l := range list {
		for _, n := range names {
			if l == n {
				return true
			}
		}
	}
	return false
}

// localBackup copies a stopped server's store. Open refuses a file
// damaged where the links live: there is nothing sound to copy.
func localBackup(dir string, w io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, boltstore.FileName)); err != nil {
		return fmt.Errorf("no store in --data-dir %s: %w", dir, err)
	}
	db, err := boltstore.Open(dir)
	if err != nil {
		return fmt.Errorf("%w\n(to back up a running server, use --server and --api-key)", err)
	}
	defer db.Close()
	_, err = db.Backup(w, func(int64) error { return nil })
	if err != nil {
		return fmt.Errorf("cannot copy the store: %w", err)
	}
	return nil
}

// fetchBackup streams the backup of a running server to w.
func fetchBackup(ctx context.Context, cfg BackupConfig, w io.Writer) error {
	c := client.DefaultConfig()
	c.URL, c.APIKey, c.Timeout = cfg.Server, cfg.APIKey, 0 // ctx bounds it: --timeout
	err := client.New(c).Backup(ctx, w)
	var ue *client.URLError
	var ae *client.Error
	switch {
	case errors.As(err, &ue):
		return fmt.Errorf("--server %q: %w", cfg.Server, ue.Err)
	case errors.As(err, &ae):
		url := strings.TrimSuffix(cfg.Server, "/") + "/api/v1/backup"
		return fmt.Errorf("%s answered %s: %s", url, ae.Status, strings.TrimSpace(string(ae.Body)))
	}
	return err
}
