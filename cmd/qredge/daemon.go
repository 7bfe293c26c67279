package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qredge/qredge/internal/cli"
)

// flagRegistrar is the flag set the config structs register on.
type flagRegistrar = *flag.FlagSet

// processFlags are the settings every long-running command has: its
// listeners, its shutdown and its logs, registered here once.
type processFlags struct {
	Listen          string // the public listener; "" on analytics, which has none
	AdminListen     string
	ShutdownTimeout time.Duration
	LogFormat       string
	LogLevel        string

	adminOptional bool // serve: an empty --admin-listen means none
}

func defaultProcessFlags(listen, adminListen string) processFlags {
	return processFlags{Listen: listen, AdminListen: adminListen, ShutdownTimeout: 15 * time.Second, LogFormat: "text", LogLevel: "info",
		adminOptional: adminListen == ""}
}

func (c *processFlags) register(fs flagRegistrar) {
	if c.Listen != "" {
		fs.StringVar(&c.Listen, "listen", c.Listen, "address of the public listener: scans (GET /{code}) on edge, the REST API on api, both on serve")
	}
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "address for /healthz, /readyz, /metrics and /debug/pprof/ away from public traffic (analytics adds POST /analytics/pause and /resume; serve has none by default and keeps the first three on --listen too)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for the work in hand (requests in flight; the analytics batch)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
}

// Check returns an error naming the first invalid setting.
func (c *processFlags) Check() error {
	if c.Listen != "" {
		if err := checkAddr("--listen", c.Listen); err != nil {
			return err
		}
	}
	if c.AdminListen != "" || !c.adminOptional {
		if err := checkAddr("--admin-listen", c.AdminListen); err != nil {
			return err
		}
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("--shutdown-timeout must not be negative")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func (c *processFlags) logger(w io.Writer) *slog.Logger { return newLogger(w, c.LogFormat, c.LogLevel) }

// daemonConfig is what serve, edge and api configurations have in common.
type daemonConfig interface {
	registerFlags(fs flagRegistrar)
	Check() error
	logger(w io.Writer) *slog.Logger
}

// daemon is a started server.
type daemon interface {
	Close() error
}

// runDaemon parses and checks the flags of a long-running command, starts
// it with open, waits for SIGINT/SIGTERM (ctx) and closes it.
func runDaemon(ctx context.Context, name, synopsis string, cfg daemonConfig, args []string, stderr io.Writer, shutdown func() time.Duration, open func(log *slog.Logger) (daemon, error)) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	cfg.registerFlags(fs)
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Check(); err != nil {
		return err
	}
	log := cfg.logger(stderr)
	d, err := open(log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", shutdown())
	return d.Close()
}
