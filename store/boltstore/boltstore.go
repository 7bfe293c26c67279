// Package boltstore is the embedded store of qredge's default mode: links
// and API keys in one bbolt file under the data directory, with an
// in-process change feed. With analytics/localagg (the embedded stats, in
// the same file) it is the only package that imports bbolt.
//
// Links are stored in store's binary form; files written before it hold
// JSON records, which are read as they are and converted in the
// background (record.go, convert.go). It must never keep a link record
// that would not read back as the link written.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/qredge/qredge/store"
)

// FileName is the name of the database file inside the data directory.
const FileName = "qredge.db"

var (
	bucketLinks = []byte("links")   // link key -> link record (record.go)
	bucketTags  = []byte("tags")    // tag NUL link key -> empty
	bucketKeys  = []byte("apikeys") // key hash -> JSON APIKey
	bucketMeta  = []byte("meta")
)

// DB is the embedded store. It implements store.LinkStore, store.KeyStore
// and store.ChangeFeed and is safe for concurrent use.
type DB struct {
	db     *bolt.DB
	report *Report
	now    func() time.Time

	// wmu serialises writes with their notifications, so that subscribers
	// see changes in commit order.
	wmu  sync.Mutex
	subs []func(store.Change)

	conv *conversion // ConvertLinks, when running

	leases leaseTable // of webhook deliveries (webhook.go)
}

// Open opens (creating if needed) the store in dir. It fails quickly with a
// clear error if another process holds the file, and with a *DamagedError
// if the file is empty or damaged in the store's own buckets or in the
// file's structures: a store that existed never starts empty. Damage
// confined to other components' buckets (the embedded stats) is left to
// them: Report says which.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data directory %q: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	isNew := errors.Is(statErr, fs.ErrNotExist)
	if statErr != nil && !isNew {
		return nil, fmt.Errorf("cannot open %s: %w", path, statErr)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	if err := lockFile(f, 2*time.Second); err != nil {
		f.Close()
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("cannot open %s: it is locked by another qredge process (stop it, or use the API of the running one)", path)
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	// Check the file before bbolt maps it: bbolt trusts its pages, and a
	// damaged one crashes it (see check.go). The lock is held, so no
	// other process writes meanwhile.
	var rep *Report
	if !isNew {
		start := time.Now()
		if rep, err = checkOpen(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot check %s: %w", path, err)
		}
		rep.Path, rep.Took = path, time.Since(start)
		if err := rep.refuse(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	// bbolt takes the file already opened and locked (flock again on the
	// same open file is a no-op), so no other process slips in between.
	var bdb *bolt.DB
	var size int64
	if rep != nil {
		size = rep.Size
	}
	err = guard("opening the database", func() error {
		var err error
		bdb, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second,
			// Room to grow without a new mapping, which waits for every
			// read transaction to end: a commit that grows the file
			// while a long one runs (the start-up policy scan, an
			// export, a backup) would stall for its length. The
			// conversion of JSON records grows the file while the scan
			// runs. Address space only: the file grows as written.
			InitialMmapSize: int(2 * size),
			OpenFile:        func(string, int, os.FileMode) (*os.File, error) { return f, nil }})
		return err
	})
	if err != nil {
		f.Close()
		return nil, (&Report{Path: path, Problems: []Problem{{Detail: err.Error()}}}).refuse(dir)
	}
	if rep != nil {
		// bbolt's own check, safe now that every page it reads has been
		// checked: of the whole file, or of the store's buckets when
		// another component's are damaged.
		start := time.Now()
		err := guard("checking the database", func() error { return boltCheck(bdb, rep) })
		rep.Took += time.Since(start)
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Detail: err.Error()})
		}
		if err := rep.refuse(dir); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	err = guard("creating the buckets", func() error {
		return bdb.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketLinks, bucketTags, bucketKeys, bucketMeta} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if isNew {
				// No JSON record to convert, ever.
				return tx.Bucket(bucketMeta).Put(keyLinkFormat, []byte{formatBinary})
			}
			return nil
		})
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("cannot initialise %s: %w", path, wrapWriteError(err))
	}
	if rep == nil {
		rep = &Report{Path: path}
	}
	return &DB{db: bdb, report: rep, now: func() time.Time { return time.Now().UTC() }}, nil
}

// Report returns what the check at Open found: nothing for a new file,
// otherwise at most damage outside the store's own buckets.
func (s *DB) Report() *Report { return s.report }

// Close closes the database file. Writes that returned before Close are on
// disk (bbolt syncs every commit).
func (s *DB) Close() error {
	s.stopConversion()
	return s.db.Close()
}

// Bolt returns the underlying database, for components that keep their
// own buckets in the same file (the embedded aggregator). They must not
// touch the store's buckets.
func (s *DB) Bolt() *bolt.DB { return s.db }

// Subscribe implements store.ChangeFeed.
func (s *DB) Subscribe(fn func(store.Change)) {
	s.wmu.Lock()
	s.subs = append(s.subs, fn)
	s.wmu.Unlock()
}

func (s *DB) notify(c store.Change) {
	for _, fn := range s.subs {
		fn(c)
	}
}

// write runs fn in a read-write transaction and, once it has committed,
// delivers the change it returns to the subscribers.
func (s *DB) write(ctx context.Context, fn func(tx *bolt.Tx) (*store.Change, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var c *store.Change
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		c, err = fn(tx)
		return err
	})
	if err != nil {
		return wrapWriteError(err)
	}
	if c != nil {
		s.notify(*c)
	}
	return nil
}

func nextVersion(tx *bolt.Tx) (uint64, error) {
	// NextSequence is persisted with the transaction, so versions never go
	// back, even after deletes and restarts.
	return tx.Bucket(bucketMeta).NextSequence()
}

func getLink(tx *bolt.Tx, key string) (*store.Link, error) {
	v := tx.Bucket(bucketLinks).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	return decodeLink([]byte(key), v)
}

// putLink stamps l (the next version; created at now, or when old was;
// updated at now) and stores it over old (nil: a new link). It returns the
// change to publish.
func putLink(tx *bolt.Tx, l *store.Link, old *store.Link, now time.Time) (*store.Change, error) {
	var err error
	if l.Version, err = nextVersion(tx); err != nil {
		return nil, err
	}
	l.CreatedAt, l.UpdatedAt = now, now
	if old != nil {
		l.CreatedAt = old.CreatedAt
	}
	if err := putTagged(tx, l, old); err != nil {
		return nil, err
	}
	return &store.Change{Op: store.OpPut, Link: l.Clone(), Version: l.Version}, nil
}

// putTagged stores l and its tags, replacing old's.
func putTagged(tx *bolt.Tx, l *store.Link, old *store.Link) error {
	key := l.Key()
	// bbolt keeps the value until the commit: a new slice for each.
	if err := tx.Bucket(bucketLinks).Put([]byte(key), appendLink(nil, l)); err != nil {
		return err
	}
	tags := tx.Bucket(bucketTags)
	if old != nil {
		for _, t := range old.Tags {
			if err := tags.Delete(tagKey(t, key)); err != nil {
				return err
			}
		}
	}
	for _, t := range l.Tags {
		if err := tags.Put(tagKey(t, key), nil); err != nil {
			return err
		}
	}
	return nil
}

func tagKey(tag, linkKey string) []byte {
	return []byte(tag + "\x00" + linkKey)
}

// CreateLink implements store.LinkStore.
func (s *DB) CreateLink(ctx context.Context, l *store.Link) (*store.Link, error) {
	l = l.Clone()
	err := s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		old, err := getLink(tx, l.Key())
		if err != nil {
			return nil, err
		}
		if old != nil {
			return nil, store.LinkExists(l.Domain, l.Code)
		}
		return putLink(tx, l, nil, s.now())
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// GetLink implements store.LinkStore.
func (s *DB) GetLink(ctx context.Context, domain, code string) (*store.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var l *store.Link
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		l, err = getLink(tx, store.LinkKey(domain, code))
		return err
	})
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, store.LinkNotFound(domain, code)
	}
	return l, nil
}

// UpdateLink implements store.LinkStore.
func (s *DB) UpdateLink(ctx context.Context, l *store.Link, ifVersion uint64) (*store.Link, error) {
	l = l.Clone()
	err := s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		old, err := getLink(tx, l.Key())
		if err != nil {
			return nil, err
		}
		if old == nil {
			return nil, store.LinkNotFound(l.Domain, l.Code)
		}
		if ifVersion != 0 && old.Version != ifVersion {
			return nil, store.VersionMismatch(old.Version, ifVersion)
		}
		return putLink(tx, l, old, s.now())
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DeleteLink implements store.LinkStore.
func (s *DB) DeleteLink(ctx context.Context, domain, code string, ifVersion uint64) error {
	return s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		key := store.LinkKey(domain, code)
		old, err := getLink(tx, key)
		if err != nil {
			return nil, err
		}
		if old == nil {
			return nil, store.LinkNotFound(domain, code)
		}
		if ifVersion != 0 && old.Version != ifVersion {
			return nil, store.VersionMismatch(old.Version, ifVersion)
		}
		v, err := nextVersion(tx)
		if err != nil {
			return nil, err
		}
		if err := tx.Bucket(bucketLinks).Delete([]byte(key)); err != nil {
			return nil, err
		}
		for _, t := range old.Tags {
			if err := tx.Bucket(bucketTags).Delete(tagKey(t, key)); err != nil {
				return nil, err
			}
		}
		return &store.Change{Op: store.OpDelete, Link: old, Version: v}, nil
	})
}

// ListLinks implements store.LinkStore.
func (s *DB) ListLinks(ctx context.Context, opt store.ListOptions) (*store.LinkPage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := opt.PageLimit()
	after, err := store.DecodeCursor(opt.Cursor)
	if err != nil {
		return nil, err
	}
	page := &store.LinkPage{Links: []*store.Link{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		links := tx.Bucket(bucketLinks)
		var (
			c      *bolt.Cursor
			prefix []byte
			k      []byte
		)
		if opt.Tag != "" {
			c = tx.Bucket(bucketTags).Cursor()
			prefix = []byte(opt.Tag + "\x00")
		} else {
			c = links.Cursor()
		}
		seek := append(append([]byte(nil), prefix...), after...)
		k, _ = c.Seek(seek)
		if after != nil && k != nil && bytes.Equal(k, seek) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := k[len(prefix):]
			if len(page.Links) == limit {
				page.NextCursor = store.EncodeCursor(page.Links[limit-1].Key())
				return nil
			}
			l, err := getLink(tx, string(key))
			if err != nil {
				return err
			}
			if l == nil {
				return fmt.Errorf("BUG: tag index names missing link %q", key)
			}
			page.Links = append(page.Links, l)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// CreateKey implements store.KeyStore.
func (s *DB) CreateKey(ctx context.Context, k *store.APIKey) error {
	data, err := json.Marshal(storedKey{APIKey: *k, Hash: k.Hash})
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		return nil, tx.Bucket(bucketKeys).Put([]byte(k.Hash), data)
	})
}

// storedKey includes the hash, which APIKey leaves out of its JSON.
type storedKey struct {
	store.APIKey
	Hash string `json:"hash"`
}

func decodeKey(v []byte) (*store.APIKey, error) {
	var sk storedKey
	if err := json.Unmarshal(v, &sk); err != nil {
		return nil, fmt.Errorf("cannot decode stored API key: %w", err)
	}
	k := sk.APIKey
	k.Hash = sk.Hash
	return &k, nil
}

// KeyByHash implements store.KeyStore.
func (s *DB) KeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	var k *store.APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketKeys).Get([]byte(hash))
		if v == nil {
			return store.Errorf(store.ENOTFOUND, "unknown API key")
		}
		var err error
		k, err = decodeKey(v)
		return err
	})
	return k, err
}

// ListKeys implements store.KeyStore.
func (s *DB) ListKeys(ctx context.Context) ([]*store.APIKey, error) {
	keys := []*store.APIKey{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(_, v []byte) error {
			k, err := decodeKey(v)
			if err != nil {
				return err
			}
			keys = append(keys, k)
			return nil
		})
	})
	return keys, err
}

// RevokeKey implements store.KeyStore.
func (s *DB) RevokeKey(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		b := tx.Bucket(bucketKeys)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			key, err := decodeKey(v)
			if err != nil {
				return nil, err
			}
			if key.ID == id {
				return nil, b.Delete(k)
			}
		}
		return nil, store.Errorf(store.ENOTFOUND, "API key %q not found", id)
	})
}
