package store

import (
	"strings"
	"testing"
	"time"
)

// wantMessage returns f(in, wantSubstr), which fails t unless check(in),
// the message of a Check function called name, is empty (in is valid) for
// an empty wantSubstr and contains wantSubstr otherwise.
func wantMessage(t *testing.T, name string, check func(string) string) func(in, wantSubstr string) {
	return func(in, wantSubstr string) {
		t.Helper()
		got := check(in)
		if wantSubstr == "" && got != "" {
			t.Fatalf("%s(%q) = %q, want valid", name, in, got)
		}
		if wantSubstr != "" && !strings.Contains(got, wantSubstr) {
			t.Fatalf("%s(%q) = %q, want it to contain %q", name, in, got, wantSubstr)
		}
	}
}

func TestCheckCode(t *testing.T) {
	f := wantMessage(t, "CheckCode", CheckCode)
	f("spring24", "")
	f("A", "")
	f("a_b-C9", "")
	f(strings.Repeat("x", 64), "")
	f("", "must not be empty")
	f(strings.Repeat("x", 65), "at most 64")
	f("a b", `invalid character ' ' at position 1`)
	f("a/b", `invalid character '/'`)
	f("a.b", `invalid character '.'`)
	f("é", `invalid character 'é' at position 0`)
	f("aéb", `invalid character 'é' at position 1`)
	f("a\xc3", `invalid byte %C3 (not UTF-8) at position 1`)
	f("api", "reserved")
	f("API", "reserved")
	f("healthz", "reserved")
	f("readyz", "reserved")
	f("metrics", "reserved")
	f("apis", "")
}

func TestCheckURL(t *testing.T) {
	f := wantMessage(t, "CheckURL", CheckURL)
	f("https://example.com", "")
	f("https://example.com/a?b=c#d", "")
	f("http://example.com:8080/x", "")
	f("HTTPS://EXAMPLE.COM/", "")
	f("https://[::1]:443/", "")
	f("https://xn--bcher-kva.example/", "")
	f("", "must not be empty")
	f("https://example.com/"+strings.Repeat("a", 2048), "at most 2048 bytes")
	f("javascript:alert(1)", "javascript URLs are not allowed")
	f("JavaScript:alert(1)", "javascript URLs are not allowed")
	f("data:text/html,hi", "data URLs are not allowed")
	f("ftp://example.com/", `scheme "ftp" is not allowed`)
	f("example.com/path", "absolute URL")
	f("/relative", "absolute URL")
	f("https://", "must have a host")
	f("https:///path", "must have a host")
	f("https://user:pw@example.com/", "user information")
	f("https://example.com/a b", "space at byte 21")
	f("https://example.com/\x00", "control character")
	f("https://example.com/\r\nSet-Cookie: x", "control character")
	f("https://bücher.example/", "non-ASCII")
	f("https://example.com:99999/", "invalid port")
	f("https://example.com:/", "must have a host")
	f("https://exa%zzmple.com/", "not a valid URL")
}

func TestCheckDomain(t *testing.T) {
	for _, d := range []string{"", "go.example.com", "a.b", "x-y.example", "localhost"} {
		if msg := CheckDomain(d); msg != "" {
			t.Fatalf("CheckDomain(%q) = %q, want valid", d, msg)
		}
	}
	for _, d := range []string{"go.example.com:8080", "https://go.example.com", "a..b", "-a.b", "a_b.com", "Go.example.com", strings.Repeat("a", 64) + ".com"} {
		if msg := CheckDomain(d); msg == "" {
			t.Fatalf("CheckDomain(%q) is valid, want an error", d)
		}
	}
}

// TestInvalidCharacterShown checks that a refused character is shown as
// the whole UTF-8 character, never as its first byte read as Latin-1.
func TestInvalidCharacterShown(t *testing.T) {
	f := func(got, want string) {
		t.Helper()
		if !strings.Contains(got, want) || strings.ContainsAny(got, "Ãâ") {
			t.Fatalf("got %q, want it to contain %q", got, want)
		}
	}
	f(CheckCode("café"), `'é'`)
	f(CheckDomain("bücher.example"), `'ü'`)
	f(CheckTag("€uro"), `'€'`)
	f(CheckTag("x\xe2\x82"), `%E2`)
}

func TestLinkValidate(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	later := now.Add(72 * time.Hour)
	valid := func() *Link {
		return &Link{Code: "spring24", Destination: "https://example.com/a"}
	}
	tests := []struct {
		name   string
		modify func(l *Link)
		fields []string // the fields named in the error, in order; nil = valid
	}{
		{"minimal", func(l *Link) {}, nil},
		{"full", func(l *Link) {
			l.Domain = "Go.Example.com"
			l.Status = 308
			l.Rules = []Rule{
				{When: Match{Device: []string{"iOS"}}, Destination: "https://apps.apple.com/app/id1"},
				{When: Match{Country: []string{"de", "AT"}, Lang: []string{"DE"}}, Destination: "https://example.de/"},
				{When: Match{Query: map[string]string{"src": "tv"}, Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"beta": "on"}}, Destination: "https://example.com/beta"},
			}
			l.Variants = []Variant{{Destination: "https://example.com/a", Weight: 50}, {Destination: "https://example.com/b", Weight: 50}}
			l.Schedule = &Schedule{NotBefore: &now, BeforeURL: "https://example.com/soon", NotAfter: &later, AfterURL: "https://example.com/ended"}
			l.Tags = []string{"tv", "campaign:bf26", "tv"}
		}, nil},
		{"no code", func(l *Link) { l.Code = "" }, []string{"code"}},
		{"reserved code", func(l *Link) { l.Code = "api" }, []string{"code"}},
		{"bad destination", func(l *Link) { l.Destination = "javascript:alert(1)" }, []string{"destination"}},
		{"bad status", func(l *Link) { l.Status = 200 }, []string{"status"}},
		{"bad domain", func(l *Link) { l.Domain = "go.example.com:80" }, []string{"domain"}},
		{"several", func(l *Link) { l.Code = "a b"; l.Destination = ""; l.Status = 303 }, []string{"code", "destination", "status"}},
		{"empty rule", func(l *Link) { l.Rules = []Rule{{Destination: "https://x.example/"}} }, []string{"rules[0].when"}},
		{"rule destination", func(l *Link) {
			l.Rules = []Rule{{When: Match{Device: []string{"ios"}}, Destination: "ftp://x"}}
		}, []string{"rules[0].destination"}},
		{"bad country", func(l *Link) {
			l.Rules = []Rule{{When: Match{Country: []string{"DE", "USA"}}, Destination: "https://x.example/"}}
		}, []string{"rules[0].when.country[1]"}},
		{"bad device", func(l *Link) {
			l.Rules = []Rule{{When: Match{Device: []string{"iphone"}}, Destination: "https://x.example/"}}
		}, []string{"rules[0].when.device[0]"}},
		{"bad lang", func(l *Link) {
			l.Rules = []Rule{{When: Match{Lang: []string{"en-US"}}, Destination: "https://x.example/"}}
		}, []string{"rules[0].when.lang[0]"}},
		{"bad header name", func(l *Link) {
			l.Rules = []Rule{{When: Match{Header: map[string]string{"X Test": "1"}}, Destination: "https://x.example/"}}
		}, []string{`rules[0].when.header["X Test"]`}},
		{"header value control", func(l *Link) {
			l.Rules = []Rule{{When: Match{Header: map[string]string{"X-Test": "a\nb"}}, Destination: "https://x.example/"}}
		}, []string{`rules[0].when.header["X-Test"]`}},
		{"empty match value", func(l *Link) {
			l.Rules = []Rule{{When: Match{Query: map[string]string{"src": ""}}, Destination: "https://x.example/"}}
		}, []string{`rules[0].when.query["src"]`}},
		{"bad query precedence", func(l *Link) { l.QueryPrecedence = "both" }, []string{"query_precedence"}},
		{"one variant", func(l *Link) {
			l.Variants = []Variant{{Destination: "https://x.example/", Weight: 1}}
		}, []string{"variants"}},
		{"zero weight", func(l *Link) {
			l.Variants = []Variant{{Destination: "https://x.example/", Weight: 0}, {Destination: "https://y.example/", Weight: 1}}
		}, []string{"variants[0].weight"}},
		{"duplicate variant name", func(l *Link) {
			l.Variants = []Variant{{Name: "a", Destination: "https://x.example/", Weight: 1}, {Name: "a", Destination: "https://y.example/", Weight: 1}}
		}, []string{"variants[1].name"}},
		{"empty schedule", func(l *Link) { l.Schedule = &Schedule{} }, []string{"schedule"}},
		{"schedule order", func(l *Link) { l.Schedule = &Schedule{NotBefore: &later, NotAfter: &now} }, []string{"schedule.not_after"}},
		{"after_url without not_after", func(l *Link) {
			l.Schedule = &Schedule{NotBefore: &now, AfterURL: "https://x.example/"}
		}, []string{"schedule.after_url"}},
		{"bad tag", func(l *Link) { l.Tags = []string{"ok", "not ok"} }, []string{"tags[1]"}},
		{"title, notes, gone_url, limit", func(l *Link) {
			l.Title, l.Notes = "Poster – Black Friday", "line one\nline two\ttabbed"
			l.GoneURL, l.MaxScans, l.MaxScansIncludeBots = "https://example.com/sold-out", 500, true
		}, nil},
		{"long title", func(l *Link) { l.Title = strings.Repeat("x", MaxTitleLen+1) }, []string{"title"}},
		{"title line break", func(l *Link) { l.Title = "a\nb" }, []string{"title"}},
		{"notes control", func(l *Link) { l.Notes = "a\x00b" }, []string{"notes"}},
		{"notes not UTF-8", func(l *Link) { l.Notes = "a\xffb" }, []string{"notes"}},
		{"bad gone_url", func(l *Link) { l.GoneURL = "javascript:alert(1)" }, []string{"gone_url"}},
		{"negative max_scans", func(l *Link) { l.MaxScans = -1 }, []string{"max_scans"}},
		{"bots without a limit", func(l *Link) { l.MaxScansIncludeBots = true }, []string{"max_scans_include_bots"}},
		{"named rules", func(l *Link) {
			l.Rules = []Rule{{Name: "ios", When: Match{Device: []string{"ios"}}, Destination: "https://x.example/"},
				{Name: "ios", When: Match{Device: []string{"android"}}, Destination: "https://y.example/"},
				{Name: "a b", When: Match{Device: []string{"desktop"}}, Destination: "https://y.example/"}}
		}, []string{"rules[1].name", "rules[2].name"}},
		{"short password", func(l *Link) { l.Password = "abc" }, []string{"password"}},
		{"password and hash", func(l *Link) { l.Password, l.PasswordHash = "secret", HashPassword("x") }, []string{"password"}},
		{"bad hash", func(l *Link) { l.PasswordHash = "$2a$10$abcdefghijklmnopqrstuv" }, []string{"password_hash"}},
		{"costly hash", func(l *Link) {
			l.PasswordHash = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
		}, []string{"password_hash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := valid()
			tt.modify(l)
			err := l.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if ErrorCode(err) != EINVALID {
				t.Fatalf("Validate() = %v, want an %s error", err, EINVALID)
			}
			fields := ErrorFields(err)
			if len(fields) != len(tt.fields) {
				t.Fatalf("Validate() fields = %v, want %v", fields, tt.fields)
			}
			for i, fe := range fields {
				if fe.Field != tt.fields[i] || fe.Message == "" {
					t.Fatalf("field %d = %+v, want field %q with a message", i, fe, tt.fields[i])
				}
			}
		})
	}
}

// TestPassword: Validate replaces a password by its hash, which verifies
// that password only.
func TestPassword(t *testing.T) {
	l := &Link{Code: "secret", Destination: "https://example.com/", Password: "open sesame"}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.Password != "" || !strings.HasPrefix(l.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("after Validate: password %q, hash %q", l.Password, l.PasswordHash)
	}
	if !VerifyPassword(l.PasswordHash, "open sesame") || VerifyPassword(l.PasswordHash, "open sesame ") || VerifyPassword(l.PasswordHash, "") {
		t.Fatal("the hash verifies the wrong passwords")
	}
	if h2 := HashPassword("open sesame"); h2 == l.PasswordHash {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if err := l.Validate(); err != nil || !VerifyPassword(l.PasswordHash, "open sesame") {
		t.Fatalf("a second Validate: %v", err)
	}
	if VerifyPassword("not a hash", "") {
		t.Fatal("a bad hash verified")
	}
}

func TestNormalize(t *testing.T) {
	nb := time.Date(2026, 11, 27, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	l := &Link{
		Code: "x", Destination: "https://x.example/", Domain: "Go.Example.COM.",
		Rules:    []Rule{{When: Match{Country: []string{"de"}, Lang: []string{"DE"}, Device: []string{"IOS"}}, Destination: "https://x.example/"}},
		Variants: []Variant{{Destination: "https://a.example/", Weight: 1}, {Name: "b", Destination: "https://b.example/", Weight: 1}},
		Schedule: &Schedule{NotBefore: &nb},
		Tags:     []string{"b", "a", "b"},
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.Status != 302 || l.Domain != "go.example.com" {
		t.Fatalf("status %d domain %q", l.Status, l.Domain)
	}
	m := l.Rules[0].When
	if m.Country[0] != "DE" || m.Lang[0] != "de" || m.Device[0] != "ios" {
		t.Fatalf("match not normalised: %+v", m)
	}
	if l.Variants[0].Name != "v1" || l.Variants[1].Name != "b" {
		t.Fatalf("variant names %q %q", l.Variants[0].Name, l.Variants[1].Name)
	}
	if l.Schedule.NotBefore.Location() != time.UTC || !l.Schedule.NotBefore.Equal(nb) {
		t.Fatalf("not_before %v", l.Schedule.NotBefore)
	}
	if strings.Join(l.Tags, ",") != "a,b" {
		t.Fatalf("tags %v", l.Tags)
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		c := NewCode()
		if len(c) != GeneratedCodeLen || CheckCode(c) != "" {
			t.Fatalf("NewCode() = %q is not a valid code", c)
		}
		if strings.ContainsAny(c, "0Oo1lI") {
			t.Fatalf("NewCode() = %q has an ambiguous character", c)
		}
		if seen[c] {
			t.Fatalf("NewCode() repeated %q within 1000 draws", c)
		}
		seen[c] = true
	}
}

func TestAPIKey(t *testing.T) {
	secret, k := NewAPIKey()
	if !strings.HasPrefix(secret, APIKeyPrefix) || len(secret) != len(APIKeyPrefix)+33 {
		t.Fatalf("secret %q", secret)
	}
	if k.Hash != HashAPIKey(secret) || strings.Contains(k.Hash, secret) || !strings.HasPrefix(secret, k.Prefix) {
		t.Fatalf("stored key %+v does not match secret", k)
	}
	if !ScopeAllows(ScopeAdmin, ScopeWrite) || !ScopeAllows(ScopeWrite, ScopeRead) || ScopeAllows(ScopeRead, ScopeWrite) || ScopeAllows("", ScopeRead) {
		t.Fatal("scope ordering is wrong")
	}
}
