package linkio

import (
	"context"
	"testing"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

// TestStoreUpsertKeepsPassword: an upsert row without a password keeps the
// link's (exports through the API carry no hash); one with a hash
// replaces it.
func TestStoreUpsertKeepsPassword(t *testing.T) {
	db, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	hash := store.HashPassword("open sesame")
	if _, err := db.CreateLink(ctx, &store.Link{Code: "vip", Destination: "https://example.com/", Status: 302, PasswordHash: hash, Title: "old"}); err != nil {
		t.Fatal(err)
	}
	s := Store{S: db}
	if err := s.UpdateLink(ctx, &store.Link{Code: "vip", Destination: "https://example.com/new", Status: 302}); err != nil {
		t.Fatal(err)
	}
	l, _ := db.GetLink(ctx, "", "vip")
	if l.PasswordHash != hash || l.Destination != "https://example.com/new" || l.Title != "" {
		t.Fatalf("after an upsert without a password: %+v", l)
	}
	other := store.HashPassword("another")
	if err := s.UpdateLink(ctx, &store.Link{Code: "vip", Destination: "https://example.com/new", Status: 302, PasswordHash: other}); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.GetLink(ctx, "", "vip"); l.PasswordHash != other {
		t.Fatalf("after an upsert with a hash: %q", l.PasswordHash)
	}
}
