package redirect

import (
	"net/url"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

func TestAppendForwarded(t *testing.T) {
	f := func(dest, query, want string) {
		t.Helper()
		// A rule's target, and a link's destination (split when compiled).
		tg := compileTarget([]byte(dest), true)
		if got := string(appendForwarded(nil, &tg, []byte(query), false)); got != want {
			t.Fatalf("forward(%q, %q) = %q, want %q", dest, query, got, want)
		}
		tg = Compile(&store.Link{Code: "x", Destination: dest, ForwardQuery: true}).dest()
		if got := string(appendForwarded(nil, &tg, []byte(query), false)); got != want {
			t.Fatalf("link forward(%q, %q) = %q, want %q", dest, query, got, want)
		}
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
	f("https://x.example/a", "%zz=1", "https://x.example/a?%zz=1")
	f("https://x.example/a?0", "0#x&q=caf\xc3\xa9 \x01", "https://x.example/a?0&0%23x&q=caf%C3%A9%20%01")
}

func TestAppendForwardedScanWins(t *testing.T) {
	f := func(dest, query, want string) {
		t.Helper()
		tg := compileTarget([]byte(dest), true)
		if got := string(appendForwarded(nil, &tg, []byte(query), true)); got != want {
			t.Fatalf("forward scan wins(%q, %q) = %q, want %q", dest, query, got, want)
		}
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
