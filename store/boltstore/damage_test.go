package boltstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// mustDamageFixture writes a store of links and a foreign bucket "stats"
// (as the embedded aggregator keeps) big enough to span many pages, and
// returns the path of its file.
func mustDamageFixture(t *testing.T, dir string, links, stats int) string {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var batch []*store.Link
	for i := range links {
		batch = append(batch, &store.Link{Code: fmt.Sprintf("c%06d", i), Destination: fmt.Sprintf("https://example.com/%d", i), Status: 302, Tags: []string{"t"}})
	}
	if _, _, err := db.CreateLinks(context.Background(), batch, true); err != nil {
		t.Fatal(err)
	}
	err = db.Bolt().Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("stats"))
		if err != nil {
			return err
		}
		for i := range stats {
			if err := b.Put([]byte(fmt.Sprintf("stat-%08d", i)), []byte(strings.Repeat("v", 40))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, FileName)
}

// pagesOf returns the pages the walk attributes to bucket.
func pagesOf(t *testing.T, path, bucket string) []uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	w := &walker{f: f, r: &Report{Size: fi.Size()}}
	if err := w.run(); err != nil || len(w.r.Problems) > 0 {
		t.Fatalf("walk of the healthy fixture: %v %v", err, w.r.Problems)
	}
	var pages []uint64
	for pg := range w.owners {
		if owner, ok := w.ownerOf(uint64(pg)); ok && owner == bucket && pg > 1 {
			pages = append(pages, uint64(pg))
		}
	}
	return pages
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func wantDamaged(t *testing.T, dir, what string) *DamagedError {
	t.Helper()
	db, err := Open(dir)
	if err == nil {
		db.Close()
		t.Fatalf("%s: Open succeeded", what)
	}
	var de *DamagedError
	if !errors.As(err, &de) {
		t.Fatalf("%s: Open = %v, want a *DamagedError", what, err)
	}
	for _, s := range []string{filepath.Join(dir, FileName), "qredge check --data-dir " + dir, "restore the latest backup"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: the error does not say %q:\n%v", what, s, err)
		}
	}
	return de
}

func TestOpenEmptyFileRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantDamaged(t, dir, "0-byte file")
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused file was changed: %v %v", fi, err)
	}
	// A data directory without a file is new, and starts empty.
	mustOpen(t, t.TempDir())
}

func TestOpenTruncatedRefused(t *testing.T) {
	for _, size := range []int64{1 << 20, 8 << 10, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			dir := t.TempDir()
			path := mustDamageFixture(t, dir, 20000, 20000)
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			wantDamaged(t, dir, fmt.Sprintf("file cut to %d bytes", size))
		})
	}
}

func TestOpenRandomPagesRefused(t *testing.T) {
	dir := t.TempDir()
	path := mustDamageFixture(t, dir, 20000, 0)
	r := rand.New(rand.NewPCG(1, 2))
	overwrite(t, path, 10*4096, randomBytes(r, 51*4096))
	de := wantDamaged(t, dir, "random bytes over pages 10-60")
	if de.Report.Healthy() {
		t.Fatal("report says healthy")
	}
}

// TestOpenStatsDamage: damage confined to another component's bucket
// leaves the links usable, and the report names the bucket.
func TestOpenStatsDamage(t *testing.T) {
	dir := t.TempDir()
	path := mustDamageFixture(t, dir, 2000, 20000)
	pages := pagesOf(t, path, "stats")
	if len(pages) < 10 {
		t.Fatalf("stats has %d pages", len(pages))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, pg := range pages[len(pages)/3 : len(pages)/3+4] {
		overwrite(t, path, int64(pg)*4096+16, randomBytes(r, 4000))
	}
	db := mustOpen(t, dir)
	buckets, file := db.Report().DamagedBuckets()
	if file || !slices.Equal(buckets, []string{"stats"}) {
		t.Fatalf("damaged: %v, file %v; want stats only\n%s", buckets, file, db.Report().Summary())
	}
	n := 0
	if err := db.ForEachLink(context.Background(), func(*store.Link) error { n++; return nil }); err != nil || n != 2000 {
		t.Fatalf("links: %d, %v", n, err)
	}
	if _, err := db.CreateLink(context.Background(), &store.Link{Code: "after", Destination: "https://example.com/", Status: 302}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenNeverPanics damages copies of a store in many ways (random
// bytes, zeros, one flipped byte, cuts) at random places: Open either
// refuses the file or opens it, and then reading every link never panics.
func TestOpenNeverPanics(t *testing.T) {
	healthy := mustDamageFixture(t, t.TempDir(), 3000, 5000)
	orig, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(orig) / 4096
	r := rand.New(rand.NewPCG(5, 6))
	refused := 0
	const rounds = 150
	for i := range rounds {
		data := slices.Clone(orig)
		pg := r.IntN(pages)
		var how string
		switch i % 4 {
		case 0:
			n := min(1+r.IntN(8), pages-pg)
			copy(data[pg*4096:], randomBytes(r, n*4096))
			how = fmt.Sprintf("random bytes over pages %d-%d", pg, pg+n-1)
		case 1:
			clear(data[pg*4096 : (pg+1)*4096])
			how = fmt.Sprintf("zeros over page %d", pg)
		case 2:
			off := pg*4096 + r.IntN(4096)
			data[off] ^= 0xff
			how = fmt.Sprintf("byte %d flipped", off)
		case 3:
			data = data[:r.IntN(len(data))]
			how = fmt.Sprintf("cut to %d bytes", len(data))
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(dir)
		if err != nil {
			var de *DamagedError
			if !errors.As(err, &de) {
				t.Fatalf("%s: Open = %v, want a *DamagedError", how, err)
			}
			refused++
			continue
		}
		// Opened: the damage, if any, is outside the store's buckets (or
		// in bytes no structure uses).
		if err := db.ForEachLink(context.Background(), func(*store.Link) error { return nil }); err != nil {
			t.Logf("%s: opened, reading the links: %v", how, err)
		}
		db.Close()
	}
	t.Logf("%d of %d damaged files refused", refused, rounds)
}

func TestCheckHealthy(t *testing.T) {
	dir := t.TempDir()
	path := mustDamageFixture(t, dir, 3000, 100)
	rep, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Healthy() || rep.Leaked != 0 {
		t.Fatalf("healthy file: %+v", rep)
	}
	keys := map[string]int{}
	for _, b := range rep.Buckets {
		keys[b.Name] = b.Keys
	}
	if keys["links"] != 3000 || keys["tags"] != 3000 || keys["stats"] != 100 {
		t.Fatalf("keys per bucket: %v", keys)
	}
}
