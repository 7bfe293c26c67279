package boltstore

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteBackupFile: a checked copy gets the name; a failed or damaged
// one leaves nothing behind.
func TestWriteBackupFile(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	rep, err := WriteBackupFile(out, func(w io.Writer) error {
		_, err := db.Backup(w, func(int64) error { return nil })
		return err
	})
	if err != nil || rep.Path != out || !rep.Healthy() {
		t.Fatalf("%+v, %v", rep, err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if _, err := WriteBackupFile(filepath.Join(dir, "c.db"), func(w io.Writer) error { return boom }); err != boom {
		t.Fatalf("fill failed: %v", err)
	}
	if _, err := WriteBackupFile(filepath.Join(dir, "d.db"), func(w io.Writer) error {
		_, err := w.Write(make([]byte, 8192))
		return err
	}); err == nil {
		t.Fatal("a copy of zeros was kept")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}
