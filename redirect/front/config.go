package front

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Config is the limits of a public listener (edge and serve on
// fasthttp, api on net/http): timeouts, header size, connection caps and
// the accepted Host names (of scans on edge and serve, of API requests on
// api). See docs/security.md, "HTTP limits".
type Config struct {
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	MaxConns       int
	MaxConnsPerIP  int
	Hosts          string
}

// edgeMaxRequestBody bounds request bodies on the edge: scans have none.
const edgeMaxRequestBody = 4 << 10

// DefaultConfig returns the default limits with a cap of maxConns open
// connections.
func DefaultConfig(maxConns int) Config {
	return Config{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 8 << 10, MaxConns: maxConns}
}

// RegisterFlags adds the flags of the public listener, the same on edge,
// serve and api.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "most time to read a whole request, headers and body, from its first byte (slow clients are cut off)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "most time to write a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection is kept open")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes, "largest request line and headers; larger ones get 431")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most open connections on the public listener; more get 503 and are closed (0: no limit)")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "most open connections from one client IP; more get 429 (0: no limit; carrier NAT puts many phones behind one IP)")
	fs.StringVar(&c.Hosts, "hosts", c.Hosts, "comma-separated Host names the public listener answers (scans on edge and serve, which adds --public-url's host; API requests on api); others get 421 (empty: any host)")
}

// Check returns an error naming the first invalid setting.
func (c *Config) Check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--read-timeout", c.ReadTimeout}, {"--write-timeout", c.WriteTimeout}, {"--idle-timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("%s %s: must be positive", d.name, d.v)
		}
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		return fmt.Errorf("--max-header-bytes %d: must be from 1024 to 1048576", c.MaxHeaderBytes)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("--max-conns %d: must not be negative (0: no limit)", c.MaxConns)
	}
	if c.MaxConnsPerIP < 0 {
		return fmt.Errorf("--max-conns-per-ip %d: must not be negative (0: no limit)", c.MaxConnsPerIP)
	}
	_, err := parseHosts(c.Hosts)
	return err
}

// FastHTTPLimits sets the limits on a fasthttp server. The connection caps
// are not fasthttp's (whose 503 text names its own settings) but
// limitListener's, applied to the listener by Listen.
func (c *Config) FastHTTPLimits(srv *fasthttp.Server) {
	srv.ReadTimeout = c.ReadTimeout
	srv.WriteTimeout = c.WriteTimeout
	srv.IdleTimeout = c.IdleTimeout
	// The read buffer bounds the request line and headers: fasthttp
	// answers ErrSmallBuffer (431, RequestErrorStatus) when they exceed it.
	srv.ReadBufferSize = c.MaxHeaderBytes
	// The errors of requests fasthttp refuses (431, 408, 400) name the
	// buffer's size, not its bytes: what a client sent (cookies, tokens)
	// reaches no log, and a flood of refused requests costs no formatting
	// (it was 7% of an edge's CPU under the chaos suite's slow-clients).
	srv.SecureErrorLogMessage = true
	srv.NoDefaultServerHeader = true
	// fasthttp's own worker cap stays above ours, so a connection our cap
	// lets in is never refused with fasthttp's message.
	srv.Concurrency = max(fasthttp.DefaultConcurrency, c.MaxConns+1024)
}

// HTTPServer returns a net/http server with the limits.
func (c *Config) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes}
}

// Listen listens on addr (--listen) with the connection caps; a request
// head with a bare LF ends its connection with 400 (crlfConn).
func (c *Config) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --listen %s: %w", addr, err)
	}
	return limitListener(crlfListener{ln}, c.MaxConns, c.MaxConnsPerIP), nil
}

// AcceptedHosts returns the accepted Host names, nil for any host; extra names
// (the public URL's host) are added when the list is not empty.
func (c *Config) AcceptedHosts(extra ...string) *HostSet {
	names, _ := parseHosts(c.Hosts)
	if names == nil {
		return nil
	}
	for _, h := range extra {
		if h != "" {
			names[strings.ToLower(strings.Trim(h, "[]"))] = struct{}{}
		}
	}
	return &HostSet{names: names}
}
