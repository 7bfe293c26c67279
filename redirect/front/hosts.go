package front

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// HostSet holds the accepted lower-case host names without port or brackets, and counts
// the requests it refused. A nil *HostSet accepts any host.
type HostSet struct {
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

// Allowed reports whether a request's Host header (any port stripped,
// case-insensitive, one trailing dot ignored) is in the set. It does not
// allocate.
func (h *HostSet) Allowed(host []byte) bool {
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

// CheckHost wraps an API handler: requests whose Host is not in hosts get
// 421 with a problem+json body. A nil hosts accepts any host.
func CheckHost(hosts *HostSet, h http.Handler) http.Handler {
	if hosts == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts.Allowed([]byte(r.Host)) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_, _ = w.Write(misdirectedProblem)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WriteMisdirected answers a scan for a host not in --hosts.
func WriteMisdirected(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusMisdirectedRequest)
	ctx.SetContentTypeBytes(textPlain)
	ctx.Response.SetBodyRaw(misdirectedBody)
	ctx.SetConnectionClose()
}
