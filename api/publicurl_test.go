package api

import (
	"net"
	"strings"
	"testing"
)

func TestPublicURLWarning(t *testing.T) {
	f := func(publicURL, listen string, warn bool) {
		t.Helper()
		addr, err := net.ResolveTCPAddr("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		got := PublicURLWarning(publicURL, addr)
		if (got != "") != warn {
			t.Fatalf("PublicURLWarning(%q, %s) = %q, want a warning: %v", publicURL, listen, got, warn)
		}
		if warn && !strings.Contains(got, "--public-url") {
			t.Fatalf("the warning does not name --public-url: %q", got)
		}
	}
	f("http://localhost:8080", "0.0.0.0:8080", true)
	f("http://localhost:8080", "[::]:8080", true)
	f("http://127.0.0.1:8080", "192.0.2.1:8080", true)
	f("http://[::1]:8080", "0.0.0.0:8080", true)
	f("http://localhost:8080", "127.0.0.1:8080", false)
	f("http://localhost:8080", "[::1]:8080", false)
	f("https://go.example.com", "0.0.0.0:8080", false)
	f("http://192.0.2.1:8080", "0.0.0.0:8080", false)
}

func TestDefaultPublicURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080",
		"0.0.0.0:8080":   "http://localhost:8080",
		"127.0.0.1:9000": "http://127.0.0.1:9000",
		"[::1]:80":       "http://[::1]",
	} {
		if got := DefaultPublicURL(addr); got != want {
			t.Errorf("DefaultPublicURL(%q) = %q, want %q", addr, got, want)
		}
	}
}
