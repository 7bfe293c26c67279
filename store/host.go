package store

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Hosts are read the way browsers read them, by the host parser of the
// WHATWG URL Standard (https://url.spec.whatwg.org/#host-parsing): a host
// whose last label is a number is an IPv4 address in any spelling
// browsers accept (127.1, 0x7f.0.0.1, 2130706433, 0177.0.0.1,
// 127.000.000.001), and an IPv4-mapped IPv6 address ([::ffff:127.0.0.1])
// reaches that IPv4 address. The destination policy compares hosts in the
// form a browser connects to, so that no spelling slips past the loop check
// or the deny list; Validate refuses IPv4 spellings other than dotted
// decimal, so that a stored link shows the address a browser reaches.

// webHost is a URL host as a browser reads it.
type webHost struct {
	// key is the form hosts are compared in: a domain in lower case
	// without trailing dots, an IPv4 address (also an IPv4-mapped IPv6
	// one) in dotted decimal, any other IPv6 address in brackets in its
	// canonical form. It is "" when the host cannot be read at all.
	key string
	// ipv4 is set when key is an IPv4 address.
	ipv4 bool
	// respelt is set when the host is an IPv4 address written other than
	// in dotted decimal (an IPv4-mapped IPv6 address is not respelt: it
	// is an IPv6 address that reaches an IPv4 one).
	respelt bool
}

// urlHost returns the host of u without its port, with the brackets of an
// IPv6 literal kept: the form readHost takes.
func urlHost(u *url.URL) string {
	if strings.HasPrefix(u.Host, "[") {
		return "[" + u.Hostname() + "]"
	}
	return u.Hostname()
}

// readHost reads host (without port; an IPv6 literal in brackets) the way
// browsers do, and returns why the host is refused: a host browsers refuse
// (an IPv6 literal that does not parse, a zone, a number that is no IPv4
// address) or one that is not a DNS host name (empty labels, labels that
// start or end with '-', labels over 63 bytes, more than 253 bytes,
// characters other than letters, digits, '-' and '_'). A refused host
// still has a key when one can be read, for the policy's scan of links
// stored before these checks.
func readHost(host string) (h webHost, msg string) {
	if strings.HasPrefix(host, "[") {
		inner, ok := strings.CutSuffix(host[1:], "]")
		if strings.Contains(inner, "%") {
			return h, fmt.Sprintf("host %s has a zone: browsers refuse IPv6 zones", host)
		}
		a, err := netip.ParseAddr(inner)
		if !ok || err != nil || !a.Is6() {
			return h, fmt.Sprintf("host %s is not a valid IPv6 address", host)
		}
		if a.Is4In6() {
			return webHost{key: a.Unmap().String(), ipv4: true}, ""
		}
		return webHost{key: "[" + a.String() + "]"}, ""
	}
	lower := strings.ToLower(host)
	if endsInNumber(lower) {
		a, ok := parseWebIPv4(lower)
		if !ok {
			return h, fmt.Sprintf("host %q ends in a number but is not an IPv4 address: browsers refuse it", host)
		}
		key := formatIPv4(a)
		return webHost{key: key, ipv4: true, respelt: key != lower}, ""
	}
	h.key = strings.TrimRight(lower, ".")
	return h, checkHostName(host, strings.TrimSuffix(lower, "."))
}

// checkHostName returns why name (in lower case, without the one trailing
// dot of a fully qualified name) is not a DNS host name, or "". host is
// the host as written, for messages.
func checkHostName(host, name string) string {
	if name == "" {
		return "must have a host, as in https://example.com/path"
	}
	if len(name) > MaxDomainLen {
		return fmt.Sprintf("host is %d bytes long: at most %d are allowed", len(name), MaxDomainLen)
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return fmt.Sprintf("host %q has an empty label", host)
		case len(label) > 63:
			return fmt.Sprintf("host %q has a label of %d bytes: at most 63 are allowed", host, len(label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Sprintf("label %q of host %q must not start or end with '-'", label, host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Sprintf("invalid %s in host %q: a host name has letters, digits, '-' and '_' (punycode, xn--, for international names)", charAt(label, i), host)
			}
		}
	}
	return ""
}

// endsInNumber reports whether the WHATWG host parser reads the ASCII
// host s (in lower case) as an IPv4 address: when its last label,
// ignoring one trailing dot, is all digits or an IPv4 number (0x1f, 0x).
func endsInNumber(s string) bool {
	s, dot := strings.CutSuffix(s, ".")
	if dot && s == "" {
		return false
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last == "" {
		return false
	}
	digits := true
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			digits = false
			break
		}
	}
	if digits {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseWebIPv4 is the WHATWG IPv4 parser: one to four parts separated by
// dots (and one trailing dot), each decimal, octal (a leading 0) or
// hexadecimal (a leading 0x), every part but the last below 256 and the
// last filling the bytes left.
func parseWebIPv4(s string) (uint32, bool) {
	s, _ = strings.CutSuffix(s, ".")
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, false
	}
	var addr uint64
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return 0, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return 0, false
			}
			addr |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(5-len(parts))) {
			return 0, false
		}
		addr |= n
	}
	return uint32(addr), true
}

// parseIPv4Number is the WHATWG IPv4 number parser. Values past 2^32 are
// capped there: they fail the caller's range checks either way.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		n = min(n*base+d, 1<<32)
	}
	return n, true
}

func formatIPv4(a uint32) string {
	return strconv.Itoa(int(a>>24)) + "." + strconv.Itoa(int(a>>16&0xff)) + "." + strconv.Itoa(int(a>>8&0xff)) + "." + strconv.Itoa(int(a&0xff))
}

// webPort returns the port p as browsers compare it: without leading
// zeros, and "" for 80 and 443 (no port).
func webPort(p string) string {
	n, err := strconv.Atoi(p)
	if err != nil || n == 80 || n == 443 {
		return ""
	}
	return strconv.Itoa(n)
}
