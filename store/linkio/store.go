package linkio

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/qredge/qredge/store"
)

// Store is a store opened by this process, as a Creator and a Lister.
type Store struct {
	S interface {
		store.LinkStore
		store.BulkCreator
	}
}

// CreateLinks creates links through the store's bulk path.
func (s Store) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	_, errs, err := s.S.CreateLinks(ctx, links, atomic)
	return errs, err
}

// ForEachLink calls fn for every link with tag (all when empty); raw is
// always nil.
func (s Store) ForEachLink(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	return s.S.ForEachLink(ctx, func(l *store.Link) error {
		if tag != "" && !slices.Contains(l.Tags, tag) {
			return nil
		}
		return fn(l, nil)
	})
}

// UpdateLink replaces the link of l's (domain, code), keeping its creation
// time (an upsert), and its password when l has none: a row without a
// password or its hash never removes a protection (exports through the
// API carry no hash), as an upsert through the API does.
func (s Store) UpdateLink(ctx context.Context, l *store.Link) error {
	for attempt := 0; ; attempt++ {
		var version uint64
		if l.PasswordHash == "" {
			cur, err := s.S.GetLink(ctx, l.Domain, l.Code)
			if err != nil {
				return err
			}
			l.PasswordHash, version = cur.PasswordHash, cur.Version
		}
		_, err := s.S.UpdateLink(ctx, l, version)
		if store.ErrorCode(err) == store.EPRECONDITION && attempt < 5 {
			l.PasswordHash = ""
			continue // changed in between: read it again
		}
		return err
	}
}
