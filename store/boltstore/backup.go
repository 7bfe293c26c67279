package boltstore

import (
	"io"

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
