package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func mustPolicy(t *testing.T, deny ...string) *DestinationPolicy {
	t.Helper()
	d, err := ParseDenyList(deny)
	if err != nil {
		t.Fatal(err)
	}
	self := []SelfHost{}
	for _, s := range []struct{ host, source string }{{"go.example.com", "--public-url"}, {"b.example", "--short-domains"}, {"localhost:8080", "--public-url"}} {
		h, err := ParseSelfHost(s.host, s.source)
		if err != nil {
			t.Fatal(err)
		}
		self = append(self, h)
	}
	return &DestinationPolicy{Deny: d, SelfHosts: self}
}

func TestPolicyDestination(t *testing.T) {
	p := mustPolicy(t, "evil.example", "*.sub.example", "login-*.example", "https://docs.google.com/forms/", "bad-*.*.test", "http://path.example/a")
	f := func(dest, want string) {
		t.Helper()
		l := &Link{Code: "x", Destination: dest}
		if err := l.Validate(); err != nil {
			t.Fatalf("%s: %v", dest, err)
		}
		got := p.Check(l)
		if want == "" {
			if len(got) != 0 {
				t.Fatalf("%s: refused: %v", dest, got)
			}
			return
		}
		if len(got) != 1 || got[0].Field != "destination" || !strings.Contains(got[0].Message, want) {
			t.Fatalf("%s: got %v, want destination: ...%s...", dest, got, want)
		}
	}
	// Exact host and its subdomains.
	f("https://evil.example/x", `host "evil.example" is denied by "evil.example" in --deny-destinations`)
	f("https://x.evil.example/x", `host "x.evil.example" is denied by "evil.example" in --deny-destinations`)
	f("https://a.b.evil.example/", `denied by "evil.example"`)
	f("https://notevil.example/", "")
	f("https://evil.example.org/", "")
	// Case, trailing dot, port.
	f("https://EVIL.Example/x", `host "evil.example" is denied`)
	f("https://evil.example./x", `host "evil.example" is denied`)
	f("https://evil.example:8443/x", `host "evil.example" is denied`)
	// *. pattern: subdomains only.
	f("https://sub.example/", "")
	f("https://a.sub.example/", `denied by "*.sub.example"`)
	f("https://a.b.sub.example/", `denied by "*.sub.example"`)
	// Globs within a label, and their subdomains.
	f("https://login-bank.example/", `denied by "login-*.example"`)
	if !p.Deny[2].MatchHost("login-.example", "/") { // '*' matches nothing too
		t.Fatal(`"login-*.example" does not match login-.example`)
	}
	f("https://x.login-bank.example/", `denied by "login-*.example"`)
	f("https://login.example/", "")
	f("https://login-a.b.example/", "")
	f("https://bad-1.anything.test/", `denied by "bad-*.*.test"`)
	// URL prefixes: same host, path prefix; scheme http or https.
	f("https://docs.google.com/forms/d/123/viewform", `"https://docs.google.com/forms/d/123/viewform" is denied by "https://docs.google.com/forms/"`)
	f("http://docs.google.com/forms/d/1", `denied by "https://docs.google.com/forms/"`)
	f("https://docs.google.com/forms", `denied by "https://docs.google.com/forms/"`)
	f("https://docs.google.com/FORMS/x", `denied by`)
	f("https://docs.google.com/x/../forms/x", `denied by`)
	f("https://docs.google.com//forms/x", `denied by`)
	f("https://docs.google.com/%66orms/x", `denied by`)
	f("https://docs.google.com/document/d/1", "")
	f("https://docs.google.com/formsx", "")
	f("https://sub.docs.google.com/forms/", "")
	f("https://path.example/a", `denied by "http://path.example/a"`)
	f("https://path.example/abc", `denied by`)
	f("https://path.example/b", "")
	// Redirect loops: the public URL's host (any port without one, that
	// port with one), --short-domains.
	f("https://go.example.com/abc", `host "go.example.com" is in --public-url: it would redirect to this service itself: a redirect loop`)
	f("http://GO.example.com./abc", `redirect loop`)
	f("https://go.example.com:8443/abc", `redirect loop`)
	f("https://b.example/abc", `is in --short-domains: it would redirect to this service itself`)
	f("https://x.b.example/abc", "")
	f("http://localhost:8080/abc", `host "localhost:8080" is in --public-url`)
	f("http://localhost:3000/abc", "")
	f("https://example.com/", "")
}

func TestPolicyRefuseHTTP(t *testing.T) {
	p := &DestinationPolicy{RefuseHTTP: true}
	if fe := p.Check(&Link{Destination: "http://example.com/"}); len(fe) != 1 || !strings.Contains(fe[0].Message, "--allow-http=false") {
		t.Fatalf("http allowed: %v", fe)
	}
	if fe := p.Check(&Link{Destination: "https://example.com/"}); len(fe) != 0 {
		t.Fatalf("https refused: %v", fe)
	}
	var nilPolicy *DestinationPolicy
	if fe := nilPolicy.Check(&Link{Destination: "http://example.com/"}); fe != nil {
		t.Fatalf("nil policy refused: %v", fe)
	}
	if err := nilPolicy.Err(&Link{Destination: "http://example.com/"}); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyEveryField(t *testing.T) {
	p := mustPolicy(t, "evil.example")
	nb, na := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &Link{
		Code: "all", Domain: "own.example", Destination: "https://evil.example/",
		Rules: []Rule{
			{When: Match{Device: []string{"ios"}}, Destination: "https://ok.example/"},
			{When: Match{Device: []string{"android"}}, Destination: "https://x.evil.example/"},
		},
		Variants: []Variant{{Destination: "https://ok.example/", Weight: 1}, {Destination: "https://go.example.com/", Weight: 1}},
		Schedule: &Schedule{NotBefore: &nb, BeforeURL: "https://own.example/soon", NotAfter: &na, AfterURL: "https://evil.example/over"},
		GoneURL:  "https://evil.example/gone",
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	got := p.Check(l)
	want := []string{
		`destination: host "evil.example" is denied by "evil.example" in --deny-destinations`,
		`gone_url: host "evil.example" is denied`,
		`rules[1].destination: host "x.evil.example" is denied by "evil.example" in --deny-destinations`,
		`variants[1].destination: host "go.example.com" is in --public-url`,
		`schedule.before_url: host "own.example" is the link's own domain: it would redirect to this service itself: a redirect loop`,
		`schedule.after_url: host "evil.example" is denied`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i].String(), want[i]) {
			t.Errorf("%d: got %q, want %q...", i, got[i], want[i])
		}
	}
	err := p.Err(l)
	if ErrorCode(err) != EINVALID || len(ErrorFields(err)) != len(want) {
		t.Fatalf("Err: %v", err)
	}
}

func TestParseDenyPatternErrors(t *testing.T) {
	f := func(entry, want string) {
		t.Helper()
		_, err := ParseDenyList([]string{"ok.example", entry})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), entry) {
			t.Fatalf("%q: got %v, want ...%s...", entry, err, want)
		}
	}
	f("ftp://x.example/", "http:// or https://")
	f("https://u:p@x.example/", "user information")
	f("https://x.example/forms?id=1", "without query or fragment")
	f("https://*.example/", "no wildcards")
	f("https://bad_host!/", "must be a host name")
	f("évil.example", "punycode")
	f("evil..example", "empty label")
	f("*", "would deny every destination")
	f("*.*", "would deny every destination")
	f("evil.example/path", "URL prefix such as")
	f("evil.example:443", "host pattern such as")
	f("ev!l.example", "invalid character")
	f(strings.Repeat("a", 64)+".example", "longer than 63")

	// Trimming, empty entries and case.
	d, err := ParseDenyList([]string{" Evil.Example. ", "", "*.Sub.Example"})
	if err != nil || len(d) != 2 || !d[0].MatchHost("x.evil.example", "/") || !d[1].MatchHost("A.SUB.EXAMPLE", "/") || d[0].Source != "--deny-destinations" {
		t.Fatalf("%v %+v", err, d)
	}
}

func TestParseSelfHost(t *testing.T) {
	for _, bad := range []string{"", "go example", "https://go.example", "go.example:"} {
		if _, err := ParseSelfHost(bad, "--short-domains"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	h, err := ParseSelfHost("Go.Example.:443", "--public-url")
	if err != nil || h.Host != "go.example" || h.Port != "" {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestGlobLabel(t *testing.T) {
	f := func(pattern, label string, want bool) {
		t.Helper()
		if got := globLabel(pattern, label); got != want {
			t.Fatalf("globLabel(%q, %q) = %v", pattern, label, got)
		}
	}
	f("abc", "abc", true)
	f("abc", "abd", false)
	f("*", "", true)
	f("a*", "a", true)
	f("a*c", "abbbc", true)
	f("a*c", "abbbd", false)
	f("*a*b*", "xxaxxbxx", true)
	f("*a*b*", "xxbxxaxx", false)
	f("**", "x", true)
	f(strings.Repeat("*a", 30)+"b", strings.Repeat("a", 63), false)
}

func TestPolicyScan(t *testing.T) {
	p := mustPolicy(t, "evil.example")
	links := []*Link{
		{Code: "ok", Destination: "https://ok.example/"},
		{Code: "bad", Destination: "https://evil.example/", Rules: []Rule{{Destination: "https://go.example.com/"}}},
		{Code: "bad2", Domain: "d.example", Destination: "https://x.evil.example/"},
	}
	forEach := func(ctx context.Context, fn func(*Link) error) error {
		for _, l := range links {
			if err := fn(l); err != nil {
				return err
			}
		}
		return nil
	}
	var got []Violation
	n, err := p.Scan(context.Background(), forEach, func(v Violation) { got = append(got, v) })
	if err != nil || n != 2 || len(got) != 3 || p.Violations() != 2 {
		t.Fatalf("n=%d err=%v violations=%d %+v", n, err, p.Violations(), got)
	}
	if got[1].Code != "bad" || got[1].Field != "rules[0].destination" || got[2].Domain != "d.example" {
		t.Fatalf("%+v", got)
	}
}

func FuzzDenyPattern(f *testing.F) {
	for _, s := range [][2]string{{"evil.example", "x.evil.example"}, {"*.a.b", "a.b"}, {"login-*.example", "login-x.example"}, {"https://h.example/p/", "h.example"}, {"*a*b*c", "abc"}} {
		f.Add(s[0], s[1], "/p/x")
	}
	f.Fuzz(func(t *testing.T, entry, host, path string) {
		p, err := ParseDenyPattern(entry)
		if err != nil {
			return
		}
		m := p.MatchHost(host, path)
		// Case and trailing dots never change the answer.
		if p.MatchHost(strings.ToUpper(host)+".", path) != m {
			t.Fatalf("%q vs %q: case or trailing dot changed the match", entry, host)
		}
		// A host pattern that matches a host matches its subdomains.
		if p.labels != nil && m && host != "" && !p.MatchHost("sub."+host, path) {
			t.Fatalf("%q matches %q but not sub.%s", entry, host, host)
		}
	})
}

// BenchmarkPolicyCheck is the cost per stored link of the start-up scan
// and of each write.
func BenchmarkPolicyCheck(b *testing.B) {
	d, err := ParseDenyList([]string{"evil.example", "*.bad.example", "login-*.example", "https://docs.google.com/forms/", "a.example", "b.example", "c.example", "d.example"})
	if err != nil {
		b.Fatal(err)
	}
	self, _ := ParseSelfHost("go.example.com", "--public-url")
	p := &DestinationPolicy{Deny: d, SelfHosts: []SelfHost{self}, RefuseHTTP: true}
	l := &Link{Code: "x", Destination: "https://shop.example.com/spring/sale?utm_source=qr",
		Rules: []Rule{{Destination: "https://apps.apple.com/app/id1"}}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			n += len(p.Check(l))
		}
		if n != 0 {
			b.Fatal("refused")
		}
	})
}
