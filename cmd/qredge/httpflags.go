package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// HTTPFlags are the limits of a public listener (edge and serve on
// fasthttp, api on net/http): timeouts, header size, connection caps and
// the accepted Host names (of scans on edge and serve, of API requests on
// api). See docs/security.md, "HTTP limits".
type HTTPFlags struct {
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

func defaultHTTPFlags(maxConns int) HTTPFlags {
	return HTTPFlags{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 8 << 10, MaxConns: maxConns}
}

// register adds the flags; scans (edge and serve) words --hosts for scans,
// otherwise (api) for API requests.
func (c *HTTPFlags) register(fs flagRegistrar, scans bool) {
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "most time to read a whole request, headers and body, from its first byte (slow clients are cut off)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "most time to write a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection is kept open")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes, "largest request line and headers; larger ones get 431")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most open connections on the listener; more get 503 and are closed (0: no limit)")
	perIP, hosts := "most open connections from one client IP; more get 429 (0: no limit)", "API requests"
	if scans {
		perIP, hosts = "most open connections from one client IP; more get 429 (0: no limit; carrier NAT puts many phones behind one IP)", "scans"
	}
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, perIP)
	fs.StringVar(&c.Hosts, "hosts", c.Hosts, "comma-separated Host names "+hosts+" are answered for; others get 421 (empty: any host)")
}

// Check returns an error naming the first invalid setting.
func (c *HTTPFlags) Check() error {
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

// fasthttpLimits sets the limits on a fasthttp server. The connection caps
// are not fasthttp's (whose 503 text names its own settings) but
// limitListener's, applied to the listener with listen.
func (c *HTTPFlags) fasthttpLimits(srv *fasthttp.Server) {
	srv.ReadTimeout = c.ReadTimeout
	srv.WriteTimeout = c.WriteTimeout
	srv.IdleTimeout = c.IdleTimeout
	// The read buffer bounds the request line and headers: fasthttp
	// answers ErrSmallBuffer (431 by httpRequestError) when they exceed it.
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

// httpServer returns a net/http server with the limits.
func (c *HTTPFlags) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes}
}

// listen listens on addr (--listen) with the connection caps; a request
// head with a bare LF ends its connection with 400 (crlfConn).
func (c *HTTPFlags) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --listen %s: %w", addr, err)
	}
	return limitListener(crlfListener{ln}, c.MaxConns, c.MaxConnsPerIP), nil
}

// hostSet returns the accepted Host names, nil for any host; extra names
// (the public URL's host) are added when the list is not empty.
func (c *HTTPFlags) hostSet(extra ...string) *hostSet {
	names, _ := parseHosts(c.Hosts)
	if names == nil {
		return nil
	}
	for _, h := range extra {
		if h != "" {
			names[strings.ToLower(strings.Trim(h, "[]"))] = struct{}{}
		}
	}
	return &hostSet{names: names}
}

// hostSet holds lower-case host names without port or brackets, and counts
// the requests it refused. A nil *hostSet accepts any host.
type hostSet struct {
	names   map[string]struct{}
	refused atomic.Uint64
}

func parseHosts(s string) (map[string]struct{}, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	hosts := map[string]struct{}{}
	for _, h := range strings.Split(s, ",") {
		h = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if ip := strings.Trim(h, "[]"); net.ParseIP(ip) != nil {
			hosts[ip] = struct{}{}
			continue
		}
		if !validHostName(h) {
			return nil, fmt.Errorf("--hosts %q: %q is not a host name (give names without scheme or port, such as go.example.com)", s, h)
		}
		hosts[h] = struct{}{}
	}
	return hosts, nil
}

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// allowed reports whether a request's Host header (any port stripped,
// case-insensitive, one trailing dot ignored) is in the set. It does not
// allocate.
func (h *hostSet) allowed(host []byte) bool {
	if h == nil {
		return true
	}
	if len(host) > 0 && host[0] == '[' {
		i := bytes.IndexByte(host, ']')
		if i < 0 {
			h.refused.Add(1)
			return false
		}
		host = host[1:i]
	} else if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host, ':') == i {
		host = host[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	var buf [256]byte
	if len(host) > len(buf) {
		h.refused.Add(1)
		return false
	}
	lower := buf[:len(host)]
	for i, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	_, ok := h.names[string(lower)]
	if !ok {
		h.refused.Add(1)
	}
	return ok
}

var misdirectedBody = []byte("this host is not served here\n")

// misdirectedProblem is the API's 421 body.
var misdirectedProblem = []byte(`{"type":"about:blank","title":"Misdirected Request","status":421,"detail":"this host is not served here: the Host header is not in --hosts","code":"misdirected"}` + "\n")

// checkHost wraps an API handler: requests whose Host is not in hosts get
// 421 with a problem+json body. A nil hosts accepts any host.
func checkHost(hosts *hostSet, h http.Handler) http.Handler {
	if hosts == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts.allowed([]byte(r.Host)) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = w.Write(misdirectedProblem)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeMisdirected answers a scan for a host not in --hosts.
func writeMisdirected(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusMisdirectedRequest)
	ctx.SetContentTypeBytes(textPlain)
	ctx.Response.SetBodyRaw(misdirectedBody)
	ctx.SetConnectionClose()
}

// httpRequestError answers requests fasthttp could not read (the edge's
// ErrorHandler), in plain text that names no software.
func httpRequestError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := requestErrorStatus(err)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentTypeBytes(textPlain)
	ctx.SetBodyString(msg + "\n")
}

// requestErrorStatus maps an error of fasthttp's request reading to a
// status and a message.
func requestErrorStatus(err error) (int, string) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "request headers too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "request body too large"
	case errors.As(err, &netErr) && netErr.Timeout():
		return fasthttp.StatusRequestTimeout, "request not received in time"
	case errors.Is(err, errBareLF):
		return fasthttp.StatusBadRequest, "malformed HTTP request: lines must end in CRLF"
	}
	return fasthttp.StatusBadRequest, "malformed HTTP request"
}

// limitListener caps the open connections of ln, in total (max) and per
// client IP (perIP); 0 means no cap. A connection over a cap gets a short
// 503 (total) or 429 (per IP) and is closed at once, without being read.
func limitListener(ln net.Listener, max, perIP int) net.Listener {
	if max <= 0 && perIP <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, max: int64(max), perIP: perIP, ips: map[string]int{}}
}

type limitedListener struct {
	net.Listener
	max   int64
	perIP int
	open  atomic.Int64
	mu    sync.Mutex
	ips   map[string]int

	refused, refusedPerIP atomic.Uint64
}

var (
	tooManyConns      = rawResponse(fasthttp.StatusServiceUnavailable, "too many connections; try again\n")
	tooManyConnsPerIP = rawResponse(fasthttp.StatusTooManyRequests, "too many connections from your address; try again\n")
)

// rawResponse is a whole HTTP/1.1 response that closes the connection.
func rawResponse(status int, body string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s",
		status, fasthttp.StatusMessage(status), len(body), body)
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.open.Add(1); l.max > 0 && n > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			reject(c, tooManyConns)
			continue
		}
		ip := ""
		if l.perIP > 0 {
			if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				ip = a.IP.String()
			}
			l.mu.Lock()
			if l.ips[ip] >= l.perIP {
				l.mu.Unlock()
				l.open.Add(-1)
				l.refusedPerIP.Add(1)
				reject(c, tooManyConnsPerIP)
				continue
			}
			l.ips[ip]++
			l.mu.Unlock()
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

// reject answers a fresh connection (its send buffer is empty, so the
// write does not block the accept loop) and closes it.
func reject(c net.Conn, resp []byte) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(resp)
	c.Close()
}

type limitedConn struct {
	net.Conn
	l      *limitedListener
	ip     string
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Add(-1)
		if c.l.perIP > 0 {
			c.l.mu.Lock()
			if c.l.ips[c.ip]--; c.l.ips[c.ip] <= 0 {
				delete(c.l.ips, c.ip)
			}
			c.l.mu.Unlock()
		}
	}
	return err
}

// registerHTTPMetrics registers the counters of a listener's caps (when it
// has any) and of the Host filter (when there is one).
func registerHTTPMetrics(reg *prometheus.Registry, ln net.Listener, hosts *hostSet) {
	if l, ok := ln.(*limitedListener); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "qredge_http_connections_open", Help: "Open connections on the public listener."},
			func() float64 { return float64(l.open.Load()) }))
		desc := prometheus.NewDesc("qredge_http_connections_refused_total", "Connections refused by --max-conns (503) and --max-conns-per-ip (429).", []string{"reason"}, nil)
		reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.refused.Load()), "max_conns")
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.refusedPerIP.Load()), "max_conns_per_ip")
		}})
	}
	if hosts != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "qredge_http_misdirected_total", Help: "Requests (scans; API requests on qredge api) refused with 421 because their Host is not in --hosts."},
			func() float64 { return float64(hosts.refused.Load()) }))
	}
}
