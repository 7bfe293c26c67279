package boltstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/storetest"
)

func mustOpen(tb testing.TB, dir string) *DB {
	tb.Helper()
	db, err := Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return mustOpen(t, t.TempDir()) })
}

func TestReopenKeepsLinksAndVersions(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := &store.Link{Code: "keep", Destination: "https://example.com/"}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	created, err := db.CreateLink(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir)
	got, err := db.GetLink(context.Background(), "", "keep")
	if err != nil || got.Version != created.Version {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	l.Code = "next"
	next, err := db.CreateLink(context.Background(), l)
	if err != nil || next.Version <= created.Version {
		t.Fatalf("version after reopen %d, before %d (%v)", next.Version, created.Version, err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir)
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), "locked by another qredge process") {
		t.Fatalf("second Open = %v, want a clear lock error", err)
	}
}

func TestOpenBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(file, "sub")); err == nil || !strings.Contains(err.Error(), "cannot create data directory") {
		t.Fatalf("Open under a file = %v", err)
	}
}
