package store

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// nonPublic are the address ranges a webhook must not reach unless the
// operator allows it, besides those netip classifies (loopback, private,
// link-local, multicast, unspecified): networks that are not the public
// Internet (RFC 6890 and its updates).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): an IPv4 address in disguise
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("2001::/32"),       // Teredo: tunnels to an embedded IPv4 address
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// IPv6 ranges that embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// IsPrivateAddr reports whether a is an address a webhook must not reach
// unless private destinations are allowed: loopback, private (RFC 1918,
// unique local), link-local, multicast, unspecified, carrier-grade NAT,
// reserved and documentation ranges, and IPv6 addresses that embed such an
// IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16). An
// invalid address is private: nothing is known of it.
func IsPrivateAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return IsPrivateAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return IsPrivateAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// CheckWebhookHost applies the address policy of webhook destinations to
// host (a URL's host without port; an IPv6 literal with or without
// brackets): unless allowPrivate, a host that is or resolves to a private
// address (IsPrivateAddr), or is localhost, is refused with an EINVALID
// error naming the field "url". IPv4 addresses are read as browsers and
// C resolvers read them (0x7f.1 is 127.0.0.1). With a nil resolver only
// literal addresses and localhost are checked.
//
// It is the check at write time (the API) and before each delivery; the
// deliverer also refuses private addresses when it connects (a dialer's
// Control), as a host may resolve to another address then.
func CheckWebhookHost(ctx context.Context, host string, allowPrivate bool, r Resolver) error {
	if allowPrivate {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return &Error{Code: EINVALID, Message: "webhook destination refused",
			Fields: []FieldError{{Field: "url", Message: fmt.Sprintf(format, args...) +
				": webhooks may not reach loopback, private or link-local addresses (the operator allows them with --webhook-allow-private)"}}}
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	h, msg := readHost(host)
	if msg != "" && h.key == "" {
		return &Error{Code: EINVALID, Message: "invalid webhook", Fields: []FieldError{{Field: "url", Message: msg}}}
	}
	name := h.key
	if a, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		if IsPrivateAddr(a) {
			return refuse("host %s is the address %s", host, a)
		}
		return nil
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return refuse("host %q is this machine", host)
	}
	if r == nil {
		return nil
	}
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &Error{Code: EINVALID, Message: "invalid webhook", Fields: []FieldError{{Field: "url", Message: fmt.Sprintf("host %q does not resolve", name)}}}
	}
	for _, a := range addrs {
		if IsPrivateAddr(a) {
			return refuse("host %q resolves to %s", name, a.Unmap())
		}
	}
	return nil
}

// CheckWebhookURL is CheckWebhookHost for the host of a webhook URL (one
// that passed ValidateWebhook).
func CheckWebhookURL(ctx context.Context, rawURL string, allowPrivate bool, r Resolver) error {
	if allowPrivate {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return &Error{Code: EINVALID, Message: "invalid webhook", Fields: []FieldError{{Field: "url", Message: "must be an absolute http or https URL"}}}
	}
	return CheckWebhookHost(ctx, u.Hostname(), false, r)
}
