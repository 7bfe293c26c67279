// Package geoiptest builds small MaxMind-format Country databases for
// tests, so that no test downloads one.
package geoiptest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteCountryDB writes a database mapping each CIDR to a country (an
// ISO code; a leading "registered:" stores it as registered_country only)
// and returns its path in a temporary directory.
func WriteCountryDB(tb testing.TB, networks map[string]string) string {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "Test-Country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		tb.Fatal(err)
	}
	for cidr, iso := range networks {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		key := "country"
		if len(iso) > len("registered:") && iso[:len("registered:")] == "registered:" {
			key, iso = "registered_country", iso[len("registered:"):]
		}
		if err := tree.Insert(n, mmdbtype.Map{mmdbtype.String(key): mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(tb.TempDir(), "countries.mmdb")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
