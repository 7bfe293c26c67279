package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/qredge/qredge/internal/cli"
)

// flagRegistrar is the flag set the config structs register on.
type flagRegistrar = *flag.FlagSet

// processFlags are the settings every long-running command has (its
// listeners, its shutdown and its logs), registered once by cli.Process.
type processFlags = cli.Process

func defaultProcessFlags(listen, adminListen string) processFlags {
	return cli.DefaultProcess(listen, adminListen)
}

// newLogger is the logger of --log-format and --log-level.
var newLogger = cli.NewLogger

// daemonConfig is what serve, edge, api and analytics configurations
// have in common.
type daemonConfig interface {
	RegisterFlags(fs flagRegistrar)
	Check() error
	Logger(w io.Writer) *slog.Logger
	Settings() *cli.Process
}

// runDaemon parses and checks the flags of a long-running command into
// cfg, sets *log, opens the command, waits for SIGINT/SIGTERM (ctx) and
// closes it.
func runDaemon(ctx context.Context, name, synopsis string, cfg daemonConfig, log **slog.Logger, args []string, stderr io.Writer, open, close func() error) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	cfg.RegisterFlags(fs)
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	*log = cfg.Logger(stderr)
	if err := open(); err != nil {
		return err
	}
	<-ctx.Done()
	(*log).Info("shutting down", "timeout", cfg.Settings().ShutdownTimeout)
	return close()
}
