package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/qredge/qredge/store"
)

// refusedError is the error of a connection the address policy refused.
type refusedError struct{ addr string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: a loopback, private or link-local address (--webhook-allow-private allows it)", e.addr)
}

// dialControl refuses, unless allowPrivate, connections to the addresses
// store.CheckWebhookHost refuses. It runs on the address the connection
// goes to, after every DNS lookup, so a host that resolved to a public
// address when the webhook was checked and to a private one now (DNS
// rebinding) is refused too.
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	if allowPrivate {
		return nil
	}
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || store.IsPrivateAddr(ap.Addr()) {
			return &refusedError{addr: address}
		}
		return nil
	}
}

// isRefused reports whether err is (or wraps) a refusal of dialControl.
func isRefused(err error) bool {
	var re *refusedError
	return errors.As(err, &re)
}

// newClient returns the HTTP client of deliveries: the address policy
// checked at every connection, no proxy (a proxy would connect for us,
// out of the policy's sight), no redirects followed (a 3xx is an answer:
// the webhook's URL must be changed), and each request bounded by the
// caller's context.
func newClient(cfg *Config) *http.Client {
	d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: dialControl(cfg.AllowPrivate)}
	tr := &http.Transport{
		Proxy: nil, DialContext: d.DialContext, ForceAttemptHTTP2: true,
		MaxIdleConns: 100, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
		TLSHandshakeTimeout: cfg.Timeout, ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
