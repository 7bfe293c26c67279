package front

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Shutdown stops a fasthttp server started with
// 'go func() { served <- srv.Serve(ln) }()': no new connections, in-flight
// requests finish within timeout, and Serve has returned.
func Shutdown(srv *fasthttp.Server, ln net.Listener, served <-chan error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	if err := srv.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", err))
	}
	// Shutdown closes only listeners Serve has registered; one that Serve
	// has not reached yet (a very short-lived server on a busy machine)
	// would accept forever, so close it here too.
	ln.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// logger sends fasthttp's own messages (mostly connection errors from
// clients) to the debug log.
type logger struct{ log *slog.Logger }

func (l logger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) { // else nothing is formatted
		l.log.Debug("fasthttp: " + fmt.Sprintf(format, args...))
	}
}
