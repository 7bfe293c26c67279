package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// CreateLinks implements store.BulkCreator in one transaction, so one
// fsync instead of one per link: 10,000 links take tens of milliseconds
// instead of seconds. Subscribers see one change per created link, in
// order.
func (s *DB) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]*store.Link, []error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]*store.Link, len(links))
	errs := make([]error, len(links))
	changes := make([]*store.Change, len(links)) // to publish once committed
	s.wmu.Lock()
	defer s.wmu.Unlock()
	failed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Conflicts first, so an atomic call that fails writes nothing and
		// reports every conflict, not only the first.
		b := tx.Bucket(bucketLinks)
		seen := make(map[string]bool, len(links))
		for i, l := range links {
			key := l.Key()
			if seen[key] || b.Get([]byte(key)) != nil {
				errs[i] = store.LinkExists(l.Domain, l.Code)
				failed = true
			}
			seen[key] = true
		}
		if failed && atomic {
			return nil
		}
		now := s.now()
		for i, l := range links {
			if errs[i] != nil {
				continue
			}
			l = l.Clone()
			c, err := putLink(tx, l, nil, now)
			if err != nil {
				return err
			}
			out[i], changes[i] = l, c
		}
		return nil
	})
	if err != nil {
		return make([]*store.Link, len(links)), errs, wrapWriteError(err)
	}
	if failed && atomic {
		return make([]*store.Link, len(links)), errs, nil
	}
	for _, c := range changes {
		if c != nil {
			s.notify(*c)
		}
	}
	return out, errs, nil
}

// LinksExist implements store.BulkCreator in one read transaction.
func (s *DB) LinksExist(ctx context.Context, links []*store.Link) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(links))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLinks)
		for i, l := range links {
			out[i] = b.Get([]byte(l.Key())) != nil
		}
		return nil
	})
	return out, err
}
