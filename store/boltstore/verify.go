package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Verify checks the store in dir, which no process may hold: the page
// walk and bbolt's tx.Check of Open, then a decode of every link and API
// key record. The report lists what is damaged; an error means the check
// itself could not run (no file, or a running server holds it).
func Verify(dir string) (*Report, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no store in %s: %s does not exist", dir, path)
		}
		return nil, err
	}
	db, err := Open(dir)
	var de *DamagedError
	if errors.As(err, &de) {
		return de.Report, nil
	}
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rep := db.Report()
	start := time.Now()
	err = guard("decoding the records", func() error {
		return db.db.View(func(tx *bolt.Tx) error {
			bad := 0
			err := tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
				l, err := decodeLink(k, v)
				if err == nil && l.Key() != string(k) {
					err = fmt.Errorf("stored link %q holds link %q", k, l.Key())
				}
				if err != nil {
					if bad++; bad <= maxProblemsShown {
						rep.Problems = append(rep.Problems, Problem{Bucket: string(bucketLinks), Detail: err.Error()})
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			return tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
				if key, err := decodeKey(v); err != nil || key.Hash != string(k) {
					rep.Problems = append(rep.Problems, Problem{Bucket: string(bucketKeys), Detail: fmt.Sprintf("an API key record does not decode: %v", err)})
				}
				return nil
			})
		})
	})
	rep.Took += time.Since(start)
	if err != nil {
		rep.Problems = append(rep.Problems, Problem{Detail: err.Error()})
	}
	return rep, nil
}

// DropBuckets rewrites the store in dir without the named top-level
// buckets (the embedded stats, when they are damaged): every other bucket
// is copied, with its sequence, into a new file that then replaces
// qredge.db. The old file is kept beside it as qredge.db.dropped-<time>
// and its path returned. The store must open (no damage in its own
// buckets) and no process may hold it.
func DropBuckets(dir string, names []string) (string, error) {
	db, err := Open(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, FileName)
	newPath := path + ".new"
	os.Remove(newPath)
	dst, err := bolt.Open(newPath, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		db.Close()
		return "", fmt.Errorf("cannot create %s: %w", newPath, err)
	}
	err = guard("copying the store", func() error {
		return db.db.View(func(src *bolt.Tx) error {
			return dst.Update(func(out *bolt.Tx) error {
				return src.ForEach(func(name []byte, b *bolt.Bucket) error {
					if slices.Contains(names, string(name)) {
						return nil
					}
					nb, err := out.CreateBucket(name)
					if err != nil {
						return err
					}
					return copyBucket(nb, b)
				})
			})
		})
	})
	db.Close()
	if e := dst.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(newPath)
		return "", fmt.Errorf("cannot copy the store: %w", wrapWriteError(err))
	}
	old := path + ".dropped-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, old); err != nil {
		os.Remove(newPath)
		return "", err
	}
	if err := os.Rename(newPath, path); err != nil {
		return "", fmt.Errorf("cannot put the new file in place (the old one is %s; rename it back to %s): %w", old, path, err)
	}
	return old, nil
}

func copyBucket(dst, src *bolt.Bucket) error {
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(k, v)
		}
		nb, err := dst.CreateBucket(k)
		if err != nil {
			return err
		}
		return copyBucket(nb, src.Bucket(k))
	})
}
