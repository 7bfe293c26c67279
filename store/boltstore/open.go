package boltstore

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/qredge/qredge/store"
)

// ownBuckets are the store's buckets: damage in them, or in the file's own
// structures, keeps the store from opening.
var ownBuckets = []string{string(bucketLinks), string(bucketTags), string(bucketKeys), string(bucketMeta), string(bucketAudit),
	string(bucketWebhooks), string(bucketWHOffsets), string(bucketWHDeliv)}

// DamagedError is the error of Open for a file it will not use: empty, or
// damaged where the links and keys live.
type DamagedError struct {
	Path   string
	Dir    string
	Report *Report
}

func (e *DamagedError) Error() string {
	what := e.Report.Summary()
	return fmt.Sprintf("%s is damaged: %s. Nothing was changed and qredge will not start on it. "+
		"Stop every qredge process using %s, run 'qredge check --data-dir %s' for the whole report, "+
		"then restore the latest backup: copy it over %s and start again (see docs/reliability.md, \"Backup and restore\")",
		e.Path, what, e.Dir, e.Dir, e.Path)
}

// refuse returns a *DamagedError if the report shows damage that the
// store cannot run with.
func (r *Report) refuse(dir string) error {
	buckets, file := r.DamagedBuckets()
	own := file
	for _, b := range buckets {
		own = own || slices.Contains(ownBuckets, b)
	}
	if !own {
		return nil
	}
	return &DamagedError{Path: r.Path, Dir: dir, Report: r}
}

// boltCheck runs bbolt's tx.Check over the whole file when the page walk
// found it healthy, or over the store's own buckets when it found damage
// elsewhere (the walk refused the file otherwise), and records what it
// finds.
func boltCheck(db *bolt.DB, rep *Report) error {
	return db.View(func(tx *bolt.Tx) error {
		var opts [][]bolt.CheckOption
		if len(rep.Problems) == 0 {
			opts = append(opts, nil)
		} else {
			for _, name := range ownBuckets {
				if b := tx.Bucket([]byte(name)); b != nil && b.Root() >= 2 {
					opts = append(opts, []bolt.CheckOption{bolt.WithPageId(uint64(b.Root()))})
				}
			}
		}
		for _, o := range opts {
			for err := range tx.Check(o...) {
				rep.Problems = append(rep.Problems, Problem{Detail: "bbolt check: " + err.Error()})
			}
		}
		return nil
	})
}

// lockFile takes bbolt's exclusive lock on f, as bbolt does, waiting up to
// timeout.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return berrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wrapWriteError turns a full disk into the store's ENOSPACE error, which
// the API answers 507; other errors pass through.
func wrapWriteError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w (%w)", &store.Error{Code: store.ENOSPACE,
			Message: "the disk holding the database is full: nothing was written; free space on the data directory's file system"}, err)
	}
	return err
}
