package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// CreateLinks creates every link in one transaction: all or nothing. A
// link that exists already fails the whole call with the store's conflict
// error. Callers validate the links first. Subscribers see one change per
// link, in order. One transaction (one fsync) instead of one per link
// makes 100,000 links take a second or two instead of minutes.
func (s *DB) CreateLinks(ctx context.Context, links []*store.Link) ([]*store.Link, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]*store.Link, len(links))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		for i, l := range links {
			l = l.Clone()
			old, err := getLink(tx, l.Key())
			if err != nil {
				return err
			}
			if old != nil {
				return store.LinkExists(l.Domain, l.Code)
			}
			if l.Version, err = nextVersion(tx); err != nil {
				return err
			}
			l.CreatedAt, l.UpdatedAt = now, now
			if err := putLink(tx, l, nil); err != nil {
				return err
			}
			out[i] = l
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range out {
		s.notify(store.Change{Op: store.OpPut, Link: l.Clone(), Version: l.Version})
	}
	return out, nil
}
