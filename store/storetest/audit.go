package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
)

func testAudit(t *testing.T, s Store) {
	page, err := s.ListAudit(ctx, store.AuditQuery{})
	if err != nil || len(page.Entries) != 0 || page.NextCursor != "" {
		t.Fatalf("empty log: %+v %v", page, err)
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var entries []store.AuditEntry
	for i := 0; i < 7; i++ {
		e := store.AuditEntry{Time: at.Add(time.Duration(i) * time.Second), KeyID: "k1", KeyName: "ci", Action: store.AuditUpdate,
			Code: fmt.Sprintf("c%d", i%3), Before: link("before"), After: link("after")}
		if i%2 == 1 {
			e.Domain = "go.example"
		}
		entries = append(entries, e)
	}
	if err := s.AppendAudit(ctx, entries[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, entries[1:]...); err != nil {
		t.Fatal(err)
	}
	// All, newest first, in pages of 3.
	var got []string
	ids := map[string]bool{}
	eachPage(t, 10, func(cursor string) (string, error) {
		page, err := s.ListAudit(ctx, store.AuditQuery{Limit: 3, Cursor: cursor})
		if err != nil {
			return "", err
		}
		for _, e := range page.Entries {
			got = append(got, fmt.Sprintf("%s@%d", e.Code, e.Time.Unix()-at.Unix()))
			if e.ID == "" || ids[e.ID] {
				t.Fatalf("entry ID %q empty or repeated", e.ID)
			}
			ids[e.ID] = true
		}
		return page.NextCursor, nil
	})
	if fmt.Sprint(got) != "[c0@6 c2@5 c1@4 c0@3 c2@2 c1@1 c0@0]" {
		t.Fatalf("listed %v", got)
	}
	// The fields survive.
	page, err = s.ListAudit(ctx, store.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := page.Entries[0]
	if !e.Time.Equal(at.Add(6*time.Second)) || e.KeyID != "k1" || e.KeyName != "ci" || e.Action != store.AuditUpdate ||
		e.Before == nil || e.Before.Code != "before" || e.After == nil || e.After.Destination != "https://example.com/after" || page.NextCursor == "" {
		t.Fatalf("entry %+v, next %q", e, page.NextCursor)
	}
	// Filters, with paging.
	f := func(q store.AuditQuery, want string) {
		t.Helper()
		var got []string
		eachPage(t, 10, func(cursor string) (string, error) {
			pq := q
			pq.Cursor = cursor
			page, err := s.ListAudit(ctx, pq)
			if err != nil {
				return "", err
			}
			for _, e := range page.Entries {
				got = append(got, fmt.Sprintf("%s/%s@%d", e.Domain, e.Code, e.Time.Unix()-at.Unix()))
			}
			return page.NextCursor, nil
		})
		if fmt.Sprint(got) != want {
			t.Fatalf("%+v listed %v, want %s", q, got, want)
		}
	}
	f(store.AuditQuery{Code: "c0"}, "[/c0@6 go.example/c0@3 /c0@0]")
	f(store.AuditQuery{Code: "c0", Limit: 1}, "[/c0@6 go.example/c0@3 /c0@0]")
	f(store.AuditQuery{Domain: "go.example", Limit: 2}, "[go.example/c2@5 go.example/c0@3 go.example/c1@1]")
	f(store.AuditQuery{Code: "c1", Domain: "go.example"}, "[go.example/c1@1]")
	f(store.AuditQuery{Code: "none"}, "[]")
	_, err = s.ListAudit(ctx, store.AuditQuery{Cursor: "not a cursor"})
	wantCode(t, err, store.EINVALID)
}
