package api

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckPublicURL checks a --public-url: empty, or a scheme and host.
func CheckPublicURL(publicURL string) error {
	if publicURL == "" {
		return nil
	}
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("--public-url %q: want the scheme and host of short links, such as https://go.example.com", publicURL)
	}
	return nil
}

// PublicURLWarning returns a warning for the log when short links would
// name a host other machines cannot reach: the public URL's host is a
// loopback name or address (the default when --public-url is not given)
// while the listener takes connections from elsewhere. Printed QR codes
// would point at the scanning phone itself. It returns "" otherwise.
func PublicURLWarning(publicURL string, listen net.Addr) string {
	u, err := url.Parse(publicURL)
	if err != nil || !loopbackHost(u.Hostname()) {
		return ""
	}
	if a, ok := listen.(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return ""
	}
	return "short_url and qr_url name " + publicURL + ", which only this machine reaches, while --listen " + listen.String() +
		" takes connections from other machines: set --public-url to the scheme and host scanners use (QR codes printed now would point at the phone itself)"
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// DefaultPublicURL turns a listen address into the URL of short links
// (serve without --public-url): an unspecified address is localhost.
func DefaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "80" {
		return "http://" + host
	}
	return "http://" + host + ":" + port
}
