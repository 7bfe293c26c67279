package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/qredge/qredge/internal/cli"
)

// logFlags are the logging settings every long-running command has.
type logFlags struct {
	LogFormat string
	LogLevel  string
}

func defaultLogFlags() logFlags { return logFlags{LogFormat: "text", LogLevel: "info"} }

func (c *logFlags) register(fs flagRegistrar) {
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
}

// Check returns an error naming the first invalid setting.
func (c *logFlags) Check() error {
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func (c *logFlags) logger(w io.Writer) *slog.Logger { return newLogger(w, c.LogFormat, c.LogLevel) }

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
