package boltstore

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database file to w, as of one
// moment, while reads and writes go on (bbolt's tx.WriteTo in a read
// transaction). begin is called first with the copy's size in bytes, so
// that a caller can announce it; an error from begin stops the backup.
// The copy holds every bucket, the embedded stats included.
func (s *DB) Backup(w io.Writer, begin func(size int64) error) (int64, error) {
	var n int64
	err := guard("writing a backup", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if err := begin(tx.Size()); err != nil {
				return err
			}
			var err error
			n, err = tx.WriteTo(w)
			return err
		})
	})
	return n, err
}

// vitalBuckets are the buckets a backup is worthless without.
var vitalBuckets = []string{"links", "tags", "apikeys", "meta", "audit"}

// WriteBackupFile writes a backup to the file out: fill writes the copy
// (from Backup, here or through the API of a running server) to a
// temporary file beside out, which is synced, checked and only then
// renamed to out. A copy that fails the check where the links, tags, keys,
// meta or audit log live is removed; damage elsewhere (the embedded stats)
// is carried along and shows in the report.
func WriteBackupFile(out string, fill func(w io.Writer) error) (*Report, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("cannot create the backup file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("cannot write the backup: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("cannot write the backup: %w", err)
	}
	rep, err := Check(tmp.Name())
	if err != nil {
		return nil, err
	}
	if buckets, file := rep.DamagedBuckets(); file || slices.ContainsFunc(buckets, func(b string) bool { return slices.Contains(vitalBuckets, b) }) {
		return nil, fmt.Errorf("the backup failed its check, so it was not kept: %s", rep.Summary())
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("cannot name the backup %s: %w", out, err)
	}
	ok = true
	rep.Path = out
	return rep, nil
}
