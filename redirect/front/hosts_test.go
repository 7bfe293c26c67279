package front

import (
	"strings"
	"testing"
)

func TestHostSet(t *testing.T) {
	names, err := parseHosts("go.example.com, QR.Example., 192.0.2.1, [2001:db8::1]")
	if err != nil {
		t.Fatal(err)
	}
	hosts := &HostSet{names: names}
	f := func(host string, want bool) {
		t.Helper()
		if got := hosts.Allowed([]byte(host)); got != want {
			t.Errorf("allowed(%q) = %v, want %v", host, got, want)
		}
	}
	f("go.example.com", true)
	f("GO.example.COM:8443", true)
	f("go.example.com.", true)
	f("qr.example", true)
	f("192.0.2.1:80", true)
	f("[2001:db8::1]:443", true)
	f("[2001:db8::1", false)
	f("2001:db8::1", true) // invalid without brackets, but the same host
	f("example.com", false)
	f("", false)
	f(strings.Repeat("a", 300), false)
	if hosts.refused.Load() != 4 {
		t.Errorf("refused %d, want 4", hosts.refused.Load())
	}
	if !(*HostSet)(nil).Allowed([]byte("anything")) {
		t.Error("an empty --hosts refused a host")
	}
	host := []byte("Go.Example.com:80")
	if n := testing.AllocsPerRun(100, func() { hosts.Allowed(host) }); n != 0 {
		t.Errorf("allowed allocates %v times", n)
	}
	for _, bad := range []string{"https://go.example.com", "go.example.com:80", "a,,b", "go example"} {
		if _, err := parseHosts(bad); err == nil {
			t.Errorf("parseHosts(%q) accepted", bad)
		}
	}
}
