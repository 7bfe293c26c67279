package redirect

import (
	"net/url"
	"testing"
)

func TestAppendForwarded(t *testing.T) {
	f := func(dest, query, want string) {
		t.Helper()
		tg := compileTarget(dest)
		if got := string(appendForwarded(nil, &tg, []byte(query))); got != want {
			t.Fatalf("forward(%q, %q) = %q, want %q", dest, query, got, want)
		}
	}
	f("https://x.example/a", "utm_source=tv", "https://x.example/a?utm_source=tv")
	f("https://x.example/a?b=1", "c=2", "https://x.example/a?b=1&c=2")
	f("https://x.example/a?b=1", "b=2&c=3", "https://x.example/a?b=1&c=3")
	f("https://x.example/a?b=1#top", "c=%20x+y", "https://x.example/a?b=1&c=%20x+y#top")
	f("https://x.example/a#top", "c=3", "https://x.example/a?c=3#top")
	f("https://x.example/a?", "c=3", "https://x.example/a?c=3")
	f("https://x.example/a?b=1&", "c=3", "https://x.example/a?b=1&c=3")
	f("https://x.example/a??", "c=3", "https://x.example/a??&c=3")
	f("https://x.example/a?utm%5Fsource=web", "utm_source=tv", "https://x.example/a?utm%5Fsource=web")
	f("https://x.example/a?utm_source=web", "utm%5Fsource=tv&x", "https://x.example/a?utm_source=web&x")
	f("https://x.example/a?a+b=1", "a%20b=2", "https://x.example/a?a+b=1")
	f("https://x.example/a", "&&=x&a=1&", "https://x.example/a?a=1")
	f("https://x.example/a", "%zz=1", "https://x.example/a?%zz=1")
	f("https://x.example/a?0", "0#x&q=caf\xc3\xa9 \x01", "https://x.example/a?0&0%23x&q=caf%C3%A9%20%01")
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
	f.Add("https://x.example/a?b=1#f", "b=2&c=3")
	f.Add("https://x.example/", "%zz&&=")
	f.Fuzz(func(t *testing.T, destQuery, query string) {
		dest := "https://x.example/p?" + destQuery
		tg := compileTarget(dest)
		out := string(appendForwarded(nil, &tg, []byte(query)))
		if len(out) < len(tg.base) || out[:len(tg.base)] != string(tg.base) {
			t.Fatalf("result %q does not start with the destination %q", out, tg.base)
		}
		// Every key of the destination keeps exactly its own values.
		dq, err1 := url.ParseQuery(string(tg.base[len("https://x.example/p?"):]))
		u, err2 := url.Parse(out)
		if err1 != nil || err2 != nil {
			return
		}
		oq, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return
		}
		for k, vs := range dq {
			if len(oq[k]) != len(vs) {
				t.Fatalf("key %q: destination has %v, result %v (%q)", k, vs, oq[k], out)
			}
		}
	})
}
