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
// time (an upsert).
func (s Store) UpdateLink(ctx context.Context, l *store.Link) error {
	_, err := s.S.UpdateLink(ctx, l, 0)
	return err
}
