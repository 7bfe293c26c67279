package front

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

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
