package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"
)

// Process is the settings every long-running command has: its listeners,
// its shutdown and its logs, registered here once for all of them.
type Process struct {
	Listen          string // the public listener; "" on analytics, which has none
	AdminListen     string
	ShutdownTimeout time.Duration
	LogFormat       string
	LogLevel        string

	adminOptional bool // serve: an empty --admin-listen means none
}

// DefaultProcess returns the defaults of a process with the given
// listeners (an empty adminListen: none unless set).
func DefaultProcess(listen, adminListen string) Process {
	return Process{Listen: listen, AdminListen: adminListen, ShutdownTimeout: 15 * time.Second, LogFormat: "text", LogLevel: "info",
		adminOptional: adminListen == ""}
}

// Register adds the flags.
func (c *Process) Register(fs *flag.FlagSet) {
	if c.Listen != "" {
		fs.StringVar(&c.Listen, "listen", c.Listen, "address of the public listener: scans (GET /{code}) on edge, the REST API on api, both on serve")
	}
	fs.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "address for /healthz, /readyz, /metrics and /debug/pprof/ away from public traffic (analytics adds POST /analytics/pause and /resume; serve has none by default and keeps the first three on --listen too)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGTERM waits for the work in hand (requests in flight; the analytics batch)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
}

// Check returns an error naming the first invalid setting.
func (c *Process) Check() error {
	if c.Listen != "" {
		if err := CheckAddr("--listen", c.Listen); err != nil {
			return err
		}
	}
	if c.AdminListen != "" || !c.adminOptional {
		if err := CheckAddr("--admin-listen", c.AdminListen); err != nil {
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

// Settings returns c, to the code that runs any long-running command.
func (c *Process) Settings() *Process { return c }

// Logger returns the logger of --log-format and --log-level.
func (c *Process) Logger(w io.Writer) *slog.Logger { return NewLogger(w, c.LogFormat, c.LogLevel) }

// OrDiscard returns log, or a logger that discards when log is nil (a
// process started without one: tests).
func OrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// NewLogger returns a text or json logger at a level.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// CheckAddr checks a listen address flag.
func CheckAddr(flag, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s %q: want host:port or :port: %v", flag, addr, err)
	}
	return nil
}
