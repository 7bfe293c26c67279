package store

import (
	"math/big"
	"net/url"
	"strings"
	"testing"
)

func TestReadHost(t *testing.T) {
	f := func(host, key string, ipv4, respelt bool, msg string) {
		t.Helper()
		h, got := readHost(host)
		if h.key != key || h.ipv4 != ipv4 || h.respelt != respelt || (msg == "") != (got == "") || !strings.Contains(got, msg) {
			t.Fatalf("readHost(%q) = %+v, %q; want key %q ipv4 %v respelt %v, message with %q", host, h, got, key, ipv4, respelt, msg)
		}
	}
	// Every IPv4 spelling browsers accept.
	f("127.0.0.1", "127.0.0.1", true, false, "")
	f("127.1", "127.0.0.1", true, true, "")
	f("127.0.1", "127.0.0.1", true, true, "")
	f("0x7f.0.0.1", "127.0.0.1", true, true, "")
	f("0X7F.1", "127.0.0.1", true, true, "")
	f("0177.0.0.1", "127.0.0.1", true, true, "")
	f("2130706433", "127.0.0.1", true, true, "")
	f("0x7f000001", "127.0.0.1", true, true, "")
	f("127.000.000.001", "127.0.0.1", true, true, "")
	f("127.0.0.1.", "127.0.0.1", true, true, "")
	f("0x", "0.0.0.0", true, true, "")
	f("4294967295", "255.255.255.255", true, true, "")
	f("1.2.3.0x", "1.2.3.0", true, true, "")
	// Numbers that are no IPv4 address: browsers refuse the URL.
	f("4294967296", "", false, false, "not an IPv4 address")
	f("1.2.3.256", "", false, false, "not an IPv4 address")
	f("256.1", "", false, false, "not an IPv4 address")
	f("1.2.3.4.5", "", false, false, "not an IPv4 address")
	f("09", "", false, false, "not an IPv4 address")
	f("1..2", "", false, false, "not an IPv4 address")
	f("example.123", "", false, false, "not an IPv4 address")
	f("example.0x1f", "", false, false, "not an IPv4 address")
	// Not numbers: host names.
	f("example.com", "example.com", false, false, "")
	f("Example.COM.", "example.com", false, false, "")
	f("1.2.3.4a", "1.2.3.4a", false, false, "")
	f("0x1g", "0x1g", false, false, "")
	f("my_host.example.com", "my_host.example.com", false, false, "")
	f("xn--bcher-kva.example", "xn--bcher-kva.example", false, false, "")
	f("a..b", "a..b", false, false, "empty label")
	f("-bad-.com", "-bad-.com", false, false, "must not start or end with '-'")
	f("bad-.com", "bad-.com", false, false, "must not start or end with '-'")
	f(".example.com", ".example.com", false, false, "empty label")
	f("example.com..", "example.com", false, false, "empty label")
	f(strings.Repeat("a", 64)+".com", strings.Repeat("a", 64)+".com", false, false, "label of 64 bytes")
	f(strings.Repeat("a.", 127)+"ab", strings.Repeat("a.", 127)+"ab", false, false, "at most 253")
	f("a!b.com", "a!b.com", false, false, "invalid character '!'")
	f("bücher.example", "bücher.example", false, false, "invalid character 'ü'")
	// IPv6: IPv4-mapped addresses reach the IPv4 address.
	f("[::1]", "[::1]", false, false, "")
	f("[0:0:0:0:0:0:0:1]", "[::1]", false, false, "")
	f("[::ffff:127.0.0.1]", "127.0.0.1", true, false, "")
	f("[::FFFF:7f00:1]", "127.0.0.1", true, false, "")
	f("[fe80::1%en0]", "", false, false, "zone")
	f("[127.0.0.1]", "", false, false, "not a valid IPv6 address")
	f("[::g]", "", false, false, "not a valid IPv6 address")
}

func TestWebPort(t *testing.T) {
	for p, want := range map[string]string{"": "", "80": "", "443": "", "0080": "", "018080": "18080", "8080": "8080"} {
		if got := webPort(p); got != want {
			t.Errorf("webPort(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestCheckURLHosts checks that Validate refuses the hosts browsers refuse
// or read as another address than written, naming the host.
func TestCheckURLHosts(t *testing.T) {
	f := func(u, want string) {
		t.Helper()
		got := CheckURL(u)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Fatalf("CheckURL(%q) = %q, want %q", u, got, want)
		}
	}
	f("http://127.0.0.1:18080/x", "")
	f("http://127.1:18080/x", `host "127.1" is the IPv4 address 127.0.0.1 spelt another way: write 127.0.0.1`)
	f("http://0x7f.0.0.1:18080/", "write 127.0.0.1")
	f("http://2130706433:18080/", "write 127.0.0.1")
	f("http://127.000.000.001:18080/", "write 127.0.0.1")
	f("http://127.0.0.1.:18080/", "write 127.0.0.1")
	f("http://[::ffff:127.0.0.1]:18080/", "")
	f("http://127.0.0.1:018080/", "")
	f("http://1.2.3.256/", "not an IPv4 address")
	f("https://a..b/", `host "a..b" has an empty label`)
	f("https://-bad-.com/", `label "-bad-" of host "-bad-.com" must not start or end with '-'`)
	f("https://"+strings.Repeat("a", 64)+".com/", "at most 63")
	f("https://"+strings.Repeat("a.", 127)+"ab/", "at most 253")
	f("https://b%C3%BCcher.example/", "invalid character 'ü'")
	f("https://xn--bcher-kva.example/", "")
	f("https://example.com./", "")
	f("https://[::1]:443/", "")
	f("https://[2001:db8::1]/", "")
	f("https://[fe80::1%25en0]/", "zone")
}

// TestPolicyLoopSpellings checks the loop check against the public URL
// http://127.0.0.1:18080 whatever the spelling of the host and port.
func TestPolicyLoopSpellings(t *testing.T) {
	self, err := ParseSelfHost("127.0.0.1:18080", "--public-url")
	if err != nil {
		t.Fatal(err)
	}
	p := &DestinationPolicy{SelfHosts: []SelfHost{self}}
	for _, dest := range []string{
		"http://127.0.0.1:18080/x", "http://127.0.0.1:018080/x", "http://[::ffff:127.0.0.1]:18080/",
		"http://[::ffff:7f00:1]:18080/", "http://[0:0:0:0:0:ffff:7f00:1]:018080/",
	} {
		err := p.ValidateLink(&Link{Code: "x", Destination: dest})
		if fe := ErrorFields(err); len(fe) != 1 || fe[0].Field != "destination" || !strings.Contains(fe[0].Message, "redirect loop") {
			t.Errorf("%s: %v, want a redirect loop", dest, err)
		}
	}
	// Links stored before the spellings were refused are still found by
	// the policy's scan (Check), and Validate refuses them.
	for _, dest := range []string{"http://127.1:18080/x", "http://0x7f.0.0.1:18080/", "http://2130706433:18080/", "http://127.000.000.001:018080/", "http://0177.1:18080/"} {
		l := &Link{Code: "x", Destination: dest}
		if fe := p.Check(l); len(fe) != 1 || !strings.Contains(fe[0].Message, "(127.0.0.1:18080 to a browser) is in --public-url") {
			t.Errorf("%s: Check = %v, want a redirect loop", dest, fe)
		}
		if fe := ErrorFields(p.ValidateLink(l)); len(fe) != 1 || fe[0].Field != "destination" || !strings.Contains(fe[0].Message, "spelt another way") {
			t.Errorf("%s: ValidateLink = %v, want the spelling refused", dest, fe)
		}
	}
	for _, dest := range []string{"http://127.0.0.2:18080/", "http://127.0.0.1:18081/", "http://[::1]:18080/"} {
		if err := p.ValidateLink(&Link{Code: "x", Destination: dest}); err != nil {
			t.Errorf("%s: %v", dest, err)
		}
	}
}

func TestParseSelfHostAddresses(t *testing.T) {
	f := func(s, host, port string) {
		t.Helper()
		h, err := ParseSelfHost(s, "--public-url")
		if err != nil || h.Host != host || h.Port != port {
			t.Fatalf("ParseSelfHost(%q) = %+v, %v; want %s port %q", s, h, err, host, port)
		}
	}
	f("0x7f.1:018080", "127.0.0.1", "18080")
	f("[::1]:8080", "[::1]", "8080")
	f("[::ffff:127.0.0.1]", "127.0.0.1", "")
	f("Go.Example.:0443", "go.example", "")
	for _, bad := range []string{"[::1", "[::1]x", "[::1]:", "1.2.3.256", "a:+80", "[fe80::1%en0]:80"} {
		if h, err := ParseSelfHost(bad, "--public-url"); err == nil {
			t.Errorf("ParseSelfHost(%q) = %+v, want an error", bad, h)
		}
	}
}

func TestDenyIPv4Spellings(t *testing.T) {
	d, err := ParseDenyList([]string{"0x7f.1", "http://10.1/admin/"})
	if err != nil {
		t.Fatal(err)
	}
	p := &DestinationPolicy{Deny: d}
	for _, dest := range []string{"http://127.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://10.0.0.1/admin/x", "http://[::ffff:a00:1]/admin/"} {
		if fe := p.Check(&Link{Code: "x", Destination: dest}); len(fe) != 1 || !strings.Contains(fe[0].Message, "denied by") {
			t.Errorf("%s: %v, want denied", dest, fe)
		}
	}
	if _, err := ParseDenyPattern("1.2.3.256"); err == nil || !strings.Contains(err.Error(), "IPv4") {
		t.Fatalf("1.2.3.256: %v", err)
	}
}

// refIPv4 is the WHATWG URL Standard's IPv4 parser (url.spec.whatwg.org,
// "IPv4 parser", "IPv4 number parser", "ends in a number checker" and
// "IPv4 serializer") written out step by step with math/big, as a
// reference for parseWebIPv4 and endsInNumber, which work on uint64 with
// a cap. input is an ASCII host in lower case.
type refIPv4 struct{}

func (refIPv4) number(input string) (*big.Int, bool) {
	if input == "" {
		return nil, false
	}
	r := 10
	if len(input) >= 2 && (strings.HasPrefix(input, "0x") || strings.HasPrefix(input, "0X")) {
		input, r = input[2:], 16
	} else if len(input) >= 2 && strings.HasPrefix(input, "0") {
		input, r = input[1:], 8
	}
	if input == "" {
		return big.NewInt(0), true
	}
	digits := "0123456789abcdefABCDEF"[:r]
	if r == 16 {
		digits = "0123456789abcdefABCDEF"
	}
	for _, c := range input {
		if !strings.ContainsRune(digits, c) {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(input, r)
	return n, ok
}

func (ref refIPv4) endsInNumber(input string) bool {
	parts := strings.Split(input, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := ref.number(last)
	return ok
}

func (ref refIPv4) parse(input string) (string, bool) {
	parts := strings.Split(input, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return "", false
	}
	var numbers []*big.Int
	for _, part := range parts {
		n, ok := ref.number(part)
		if !ok {
			return "", false
		}
		numbers = append(numbers, n)
	}
	last := numbers[len(numbers)-1]
	for _, n := range numbers[:len(numbers)-1] {
		if n.Cmp(big.NewInt(255)) > 0 {
			return "", false
		}
	}
	pow := func(e int) *big.Int { return new(big.Int).Exp(big.NewInt(256), big.NewInt(int64(e)), nil) }
	if last.Cmp(pow(5-len(numbers))) >= 0 {
		return "", false
	}
	ipv4 := new(big.Int).Set(last)
	for counter, n := range numbers[:len(numbers)-1] {
		ipv4.Add(ipv4, new(big.Int).Mul(n, pow(3-counter)))
	}
	// The serializer: four bytes, most significant first.
	out := ""
	for i := 1; i <= 4; i++ {
		m := new(big.Int).Mod(ipv4, big.NewInt(256))
		out = m.String() + out
		if i != 4 {
			out = "." + out
		}
		ipv4.Div(ipv4, big.NewInt(256))
	}
	return out, true
}

// FuzzIPv4Host compares the host check with the reference WHATWG IPv4
// parser: a host the reference reads as an IPv4 address is refused
// unless written in dotted decimal, and always caught by the loop check
// against that address; a number that is no address is refused; any other
// host is never taken for an IPv4 address.
func FuzzIPv4Host(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "127.000.000.001", "0177.0.0.1", "0x", "1.2.3.256",
		"4294967296", "1..2", "example.com", "a.0x1f", "09", "0x7F.00000000000000000000001", "1.2.3.4.", "example.com.", "0xffffffff", "1.0x"} {
		f.Add(s)
	}
	var ref refIPv4
	f.Fuzz(func(t *testing.T, host string) {
		if host == "" || strings.Trim(host, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.") != "" {
			return // only hosts that parse as themselves in a URL
		}
		lower := strings.ToLower(host)
		refNumber := ref.endsInNumber(lower)
		if endsInNumber(lower) != refNumber {
			t.Fatalf("endsInNumber(%q) = %v, reference %v", lower, !refNumber, refNumber)
		}
		want, refOK := ref.parse(lower)
		a, ok := parseWebIPv4(lower)
		if ok != refOK || ok && formatIPv4(a) != want {
			t.Fatalf("parseWebIPv4(%q) = %s %v, reference %s %v", lower, formatIPv4(a), ok, want, refOK)
		}

		dest := "http://" + host + ":018080/x"
		if u, err := url.Parse(dest); err != nil || u.Hostname() != host {
			return
		}
		msg := CheckURL(dest)
		h, _ := readHost(host)
		switch {
		case !refNumber:
			if h.ipv4 {
				t.Fatalf("%q is no IPv4 address to a browser, but was read as %s", host, h.key)
			}
		case !refOK:
			if msg == "" {
				t.Fatalf("%s: browsers refuse the host, CheckURL accepts it", dest)
			}
		default:
			if (msg == "") != (want == lower) {
				t.Fatalf("%s (%s to a browser): CheckURL = %q", dest, want, msg)
			}
			self, err := ParseSelfHost(want+":18080", "--public-url")
			if err != nil {
				t.Fatal(err)
			}
			p := &DestinationPolicy{SelfHosts: []SelfHost{self}}
			if fe := p.Check(&Link{Code: "x", Destination: dest}); len(fe) != 1 || !strings.Contains(fe[0].Message, "redirect loop") {
				t.Fatalf("%s (%s to a browser): loop check = %v", dest, want, fe)
			}
		}
	})
}
