package redirect

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

// wantForwarded fails t unless forwarding query to tg, the compiled dest,
// gives want; what names the kind of forwarding in the message.
func wantForwarded(t *testing.T, what string, tg target, dest, query string, scanWins bool, want string) {
	t.Helper()
	if got := string(appendForwarded(nil, &tg, []byte(query), scanWins)); got != want {
		t.Fatalf("%s(%q, %q) = %q, want %q", what, dest, query, got, want)
	}
}

func TestAppendForwarded(t *testing.T) {
	f := func(dest, query, want string) {
		t.Helper()
		// A rule's target, and a link's destination (split when compiled).
		wantForwarded(t, "forward", compileTarget([]byte(dest), true), dest, query, false, want)
		link := Compile(&store.Link{Code: "x", Destination: dest, ForwardQuery: true})
		wantForwarded(t, "link forward", link.dest(), dest, query, false, want)
	}
	f("https://x.example/a", "utm_source=tv", "https://x.example/a?utm_source=tv")
	f("https://x.example/a?b=1", "c=2", "https://x.example/a?b=1&c=2")
	f("https://x.example/a?b=1", "b=2&c=3", "https://x.example/a?b=1&c=3")
	f("https://x.example/a?b=1#top", "c=%20x+y", "https://x.example/a?b=1&c=%20x+y#top")
	f("https://x.example/a#top", "c=3", "https://x.example/a?c=3#top")
	f("https://x.example/a?", "c=3", "https://x.example/a?c=3")
	f("https://x.example/a?b=1&", "c=3", "https://x.example/a?b=1&c=3")
	f("https://x.example/a?b=1&&d=2", "c=3", "https://x.example/a?b=1&d=2&c=3")
	f("https://x.example/a??", "c=3", "https://x.example/a??&c=3")
	f("https://x.example/a?utm%5Fsource=web", "utm_source=tv", "https://x.example/a?utm%5Fsource=web")
	f("https://x.example/a?utm_source=web", "utm%5Fsource=tv&x", "https://x.example/a?utm_source=web&x")
	f("https://x.example/a?a+b=1", "a%20b=2", "https://x.example/a?a+b=1")
	f("https://x.example/a", "&&=x&a=1&", "https://x.example/a?a=1")
	f("https://x.example/a", "%zz=1", "https://x.example/a?%25zz=1")
	f("https://x.example/a?0", "0#x&q=caf\xc3\xa9 \x01", "https://x.example/a?0&0%23x&q=caf%C3%A9%20%01")
}

// rawQueryBytes may stand unencoded in a forwarded query: RFC 3986's
// unreserved characters, its sub-delimiters but the apostrophe, ':', '@',
// '/' and '?'.
const rawQueryBytes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@/?"

// TestAppendURLSafe: the forwarded query reaches the Location header with
// every byte that may not stand raw in a URL query percent-encoded, and
// valid escapes kept as they are.
func TestAppendURLSafe(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(appendURLSafe(nil, []byte(in))); got != want {
			t.Fatalf("appendURLSafe(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("utm_source=tv", "utm_source=tv")
	f("a=AZaz09-._~!$()*+,;=:@/?", "a=AZaz09-._~!$()*+,;=:@/?")
	f(`q=<script>"x"'y'\`, "q=%3Cscript%3E%22x%22%27y%27%5C")
	f("q={a}|b^c`d[e]", "q=%7Ba%7D%7Cb%5Ec%60d%5Be%5D")
	f("q=a b\t\r\n\x00\x7f#", "q=a%20b%09%0D%0A%00%7F%23")
	f("q=caf\xc3\xa9\xff", "q=caf%C3%A9%FF")
	// Valid escapes stay; a '%' that starts none is encoded.
	f("q=%20%3c%3C%e2%82%ac", "q=%20%3c%3C%e2%82%ac")
	f("q=%", "q=%25")
	f("q=%4", "q=%254")
	f("q=%4g%zz100%", "q=%254g%25zz100%25")
	f("%%41", "%25%41")
	// Every byte outside the set is encoded, once.
	for c := 0; c < 256; c++ {
		got := appendURLSafe(nil, []byte{byte(c)})
		if c < 0x80 && strings.IndexByte(rawQueryBytes, byte(c)) >= 0 {
			if string(got) != string(rune(c)) {
				t.Errorf("byte %#x: %q, want it raw", c, got)
			}
			continue
		}
		if want := fmt.Sprintf("%%%02X", c); string(got) != want {
			t.Errorf("byte %#x: %q, want %q", c, got, want)
		}
	}
}

func TestAppendForwardedScanWins(t *testing.T) {
	f := func(dest, query, want string) {
		t.Helper()
		wantForwarded(t, "forward scan wins", compileTarget([]byte(dest), true), dest, query, true, want)
	}
	f("https://x.example/a?utm_source=qr&id=7", "utm_source=tv", "https://x.example/a?id=7&utm_source=tv")
	f("https://x.example/a?utm%5Fsource=qr", "utm_source=tv", "https://x.example/a?utm_source=tv")
	f("https://x.example/a?a=1&a=2&b=3#f", "a=9", "https://x.example/a?b=3&a=9#f")
	f("https://x.example/a?a=1", "b=2", "https://x.example/a?a=1&b=2")
}

func TestEqualUnescaped(t *testing.T) {
	f := func(raw, decoded string, want bool) {
		t.Helper()
		if got := equalUnescaped([]byte(raw), decoded); got != want {
			t.Fatalf("equalUnescaped(%q, %q) = %v", raw, decoded, got)
		}
	}
	f("a", "a", true)
	f("a%41", "aA", true)
	f("a+b", "a b", true)
	f("%", "%", true)
	f("%4", "%4", true)
	f("ab", "a", false)
	f("a", "ab", false)
}

func FuzzAppendForwarded(f *testing.F) {
	f.Add("https://x.example/a?b=1#f", "b=2&c=3", false)
	f.Add("https://x.example/", "%zz&&=", true)
	f.Fuzz(func(t *testing.T, destQuery, query string, scanWins bool) {
		dest := "https://x.example/p?" + destQuery
		if strings.ContainsAny(dest, "#") || store.CheckURL(dest) != "" {
			return // fragments are covered by the table tests; invalid destinations are never stored
		}
		tg := compileTarget([]byte(dest), true)
		out := string(appendForwarded(nil, &tg, []byte(query), scanWins))
		if !strings.HasPrefix(out, "https://x.example/p") {
			t.Fatalf("result %q lost the destination path", out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] <= ' ' || out[i] >= 0x7f {
				t.Fatalf("result %q has byte %#x, unsafe in a Location header", out, out[i])
			}
		}
		// With a destination of safe bytes only, every byte of the result
		// is safe, and each '%' starts a valid escape.
		if strings.Trim(destQuery, rawQueryBytes+"%") == "" && !strings.Contains(destQuery, "%") {
			for i := 0; i < len(out); i++ {
				switch c := out[i]; {
				case c == '%':
					_, ok1 := unhex(out[min(i+1, len(out)-1)])
					_, ok2 := unhex(out[min(i+2, len(out)-1)])
					if i+2 >= len(out) || !ok1 || !ok2 {
						t.Fatalf("result %q has a '%%' at %d that starts no escape", out, i)
					}
				case strings.IndexByte(rawQueryBytes, c) < 0:
					t.Fatalf("result %q has byte %q, not allowed raw in a query", out, c)
				}
			}
		}
		dq, err1 := url.ParseQuery(destQuery)
		sq, err2 := url.ParseQuery(query)
		u, err3 := url.Parse(out)
		if err1 != nil || err2 != nil || err3 != nil {
			return
		}
		oq, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return
		}
		// The winning side keeps exactly its own values for every key.
		win, lose := dq, sq
		if scanWins {
			win, lose = sq, dq
		}
		for k, vs := range win {
			if k == "" {
				continue
			}
			if len(oq[k]) != len(vs) {
				t.Fatalf("key %q: winner has %v, result %v (%q)", k, vs, oq[k], out)
			}
		}
		for k := range lose {
			if _, ok := win[k]; !ok && k != "" && len(oq[k]) == 0 {
				t.Fatalf("key %q of the other side was dropped: %q", k, out)
			}
		}
	})
}
