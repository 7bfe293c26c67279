package geoip

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/qredge/qredge/redirect/geoip/geoiptest"
)

func mustWriteDB(tb testing.TB) string {
	return geoiptest.WriteCountryDB(tb, map[string]string{
		"203.0.113.0/24":  "DE",
		"198.51.100.0/24": "FR",
		"2001:db8::/32":   "JP",
		"192.0.2.0/24":    "registered:US", // only a registered country, as for some anycast ranges
	})
}

// mustOpenDB opens a database written by mustWriteDB, closed at tb's
// cleanup.
func mustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(mustWriteDB(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestCountry(t *testing.T) {
	db := mustOpenDB(t)
	if db.DatabaseType() != "Test-Country" {
		t.Fatalf("type %q", db.DatabaseType())
	}
	f := func(ip, want string) {
		t.Helper()
		for i := 0; i < 2; i++ { // miss, then cache hit
			c := db.Country(netip.MustParseAddr(ip))
			got := string(c[:])
			if want == "" {
				if c != [2]byte{} {
					t.Fatalf("Country(%s) = %q, want none", ip, got)
				}
				continue
			}
			if got != want {
				t.Fatalf("Country(%s) = %q, want %q (round %d)", ip, got, want, i)
			}
		}
	}
	f("203.0.113.7", "DE")
	f("198.51.100.250", "FR")
	f("2001:db8::1", "JP")
	f("192.0.2.1", "US")
	f("10.1.2.3", "")
	f("::1", "")
}

func TestCountryAllocs(t *testing.T) {
	db := mustOpenDB(t)
	ip := netip.MustParseAddr("203.0.113.7")
	db.Country(ip)
	if n := testing.AllocsPerRun(1000, func() { db.Country(ip) }); n != 0 {
		t.Fatalf("%v allocations per cached lookup, want 0", n)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Fatal("opened a missing file")
	}
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	if _, err := Open(bad); err == nil {
		t.Fatal("opened a file that is not a database")
	}
}

func BenchmarkCountry(b *testing.B) {
	db := mustOpenDB(b)
	ip := netip.MustParseAddr("203.0.113.7")
	b.ReportAllocs()
	var c [2]byte
	for i := 0; i < b.N; i++ {
		c = db.Country(ip)
	}
	_ = c
}
