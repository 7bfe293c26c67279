package store

import (
	"net/url"
	"strings"
	"testing"
)

func FuzzCheckCode(f *testing.F) {
	for _, s := range []string{"spring24", "", "api", "a b", strings.Repeat("z", 65), "é", "a-b_c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		msg := CheckCode(code)
		// The byte check of the hot path must agree with the full check on
		// syntax; the full check additionally refuses reserved words.
		syntaxOK := IsValidCodeBytes([]byte(code))
		if msg == "" && !syntaxOK {
			t.Fatalf("CheckCode(%q) accepts what IsValidCodeBytes refuses", code)
		}
		if msg != "" && syntaxOK && !IsReservedCode(code) {
			t.Fatalf("CheckCode(%q) = %q although the syntax is valid and it is not reserved", code, msg)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/a?b=c#d", "javascript:alert(1)", "http://[::1]:80/", "https://u@h/", "https://h/\r\n", "https://h:99999/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckURL(s) != "" {
			return
		}
		// Whatever is accepted must be safe to write into a Location header
		// and must parse as an absolute http(s) URL with a host.
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				t.Fatalf("accepted %q with byte %#x", s, s[i])
			}
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: %v %+v", s, err, u)
		}
	})
}
