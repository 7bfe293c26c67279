// Package geoip maps client IPs to countries with a MaxMind-format
// database (GeoLite2-Country, GeoIP2-Country or -City, or any database
// with country.iso_code). It is the only package that imports the
// maxminddb reader, and it implements redirect.CountryLookup.
package geoip

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// cacheSlots is the size of the direct-mapped cache from database record
// to country. A Country database has a few hundred distinct records, so
// after warm-up nearly every lookup is a hit and allocates nothing.
const cacheSlots = 4096

// DB is an open database. It is safe for concurrent use.
type DB struct {
	r *maxminddb.Reader
	// Each slot packs (record offset + 1) << 16 | country; 0 is empty.
	slots [cacheSlots]atomic.Uint64
}

// Open opens the database at path and checks that it has countries.
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open GeoIP database %s: %w", path, err)
	}
	return &DB{r: r}, nil
}

// OpenOptional opens path as Open does and logs the database's type; an
// empty path (no --geoip-db) is no database: nil, and no error.
func OpenOptional(path string, log *slog.Logger) (*DB, error) {
	if path == "" {
		return nil, nil
	}
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	log.Info("GeoIP database loaded", "path", path, "type", db.DatabaseType())
	return db, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.r.Close() }

// DatabaseType returns the type the database declares, such as
// "GeoLite2-Country".
func (d *DB) DatabaseType() string { return d.r.Metadata.DatabaseType }

// Country returns the ISO 3166 alpha-2 code of ip's country (the
// registered country when the database has no physical one), or the zero
// value when unknown.
func (d *DB) Country(ip netip.Addr) [2]byte {
	res := d.r.Lookup(ip)
	if !res.Found() {
		return [2]byte{}
	}
	off := uint64(res.Offset())
	slot := &d.slots[off%cacheSlots]
	if v := slot.Load(); v>>16 == off+1 {
		return [2]byte{byte(v >> 8), byte(v)}
	}
	var iso string
	if err := res.DecodePath(&iso, "country", "iso_code"); err != nil || len(iso) != 2 {
		iso = ""
		if err := res.DecodePath(&iso, "registered_country", "iso_code"); err != nil || len(iso) != 2 {
			return [2]byte{}
		}
	}
	c := [2]byte{iso[0], iso[1]}
	if off < 1<<47 {
		slot.Store((off+1)<<16 | uint64(c[0])<<8 | uint64(c[1]))
	}
	return c
}
