// Package storetest is the conformance suite that every store backend must
// pass. A backend's tests call Run with a constructor of fresh, empty
// stores; the Redis backend runs the same suite as the embedded one.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
)

// Store is what a backend must implement.
type Store interface {
	store.LinkStore
	store.KeyStore
	store.ChangeFeed
	store.BulkCreator
	store.AuditLog
}

// Run runs the suite. newStore must return an empty store and arrange for it
// to be closed with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	runSuite(t, newStore, []suiteTest[Store]{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"Domains", testDomains},
		{"UpdateVersion", testUpdateVersion},
		{"Delete", testDelete},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ListPaging", testListPaging},
		{"ListTag", testListTag},
		{"ListBadCursor", testListBadCursor},
		{"ChangeFeed", testChangeFeed},
		{"Keys", testKeys},
		{"BulkCreate", testBulkCreate},
		{"BulkAtomic", testBulkAtomic},
		{"LinksExist", testLinksExist},
		{"Audit", testAudit},
	})
}

// suiteTest is a named test of a suite, given a fresh store.
type suiteTest[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runSuite runs each test as a subtest, on a store of its own.
func runSuite[S any](t *testing.T, newStore func(t *testing.T) S, tests []suiteTest[S]) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func link(code string) *store.Link {
	l := &store.Link{Code: code, Destination: "https://example.com/" + code}
	if err := l.Validate(); err != nil {
		panic(fmt.Sprintf("BUG: test link invalid: %v", err))
	}
	return l
}

func mustCreate(t *testing.T, s Store, l *store.Link) *store.Link {
	t.Helper()
	got, err := s.CreateLink(ctx, l)
	if err != nil {
		t.Fatalf("CreateLink(%q): %v", l.Code, err)
	}
	return got
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if store.ErrorCode(err) != code {
		t.Fatalf("error = %v (code %q), want code %q", err, store.ErrorCode(err), code)
	}
}

func testCreateGet(t *testing.T, s Store) {
	in := link("spring24")
	in.Tags = []string{"tv"}
	in.Rules = []store.Rule{{When: store.Match{Country: []string{"DE"}}, Destination: "https://example.de/"}}
	got := mustCreate(t, s, in)
	if got.Version == 0 || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("created link lacks version or times: %+v", got)
	}
	back, err := s.GetLink(ctx, "", "spring24")
	if err != nil {
		t.Fatal(err)
	}
	if back.Destination != in.Destination || back.Version != got.Version || len(back.Rules) != 1 ||
		back.Rules[0].When.Country[0] != "DE" || len(back.Tags) != 1 || !back.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("GetLink = %+v, want %+v", back, got)
	}
	// Every field a client can set comes back, the password as its hash.
	full := link("full")
	full.Title, full.Notes, full.GoneURL = "Poster", "two\nlines", "https://example.com/gone"
	full.MaxScans, full.MaxScansIncludeBots, full.PasswordHash = 10, true, store.HashPassword("open sesame")
	full.Rules = []store.Rule{{Name: "de", When: store.Match{Country: []string{"DE"}}, Destination: "https://example.de/"}}
	made := mustCreate(t, s, full)
	at := made.CreatedAt.Add(time.Minute).UTC()
	made.ScanLimitReachedAt = &at
	if _, err := s.UpdateLink(ctx, made, made.Version); err != nil {
		t.Fatal(err)
	}
	back, err = s.GetLink(ctx, "", "full")
	if err != nil {
		t.Fatal(err)
	}
	if back.Title != "Poster" || back.Notes != "two\nlines" || back.GoneURL != full.GoneURL || back.MaxScans != 10 || !back.MaxScansIncludeBots ||
		back.PasswordHash != full.PasswordHash || back.Rules[0].Name != "de" || back.ScanLimitReachedAt == nil || !back.ScanLimitReachedAt.Equal(at) {
		t.Fatalf("GetLink of every field = %+v", back)
	}
	_, err = s.GetLink(ctx, "", "missing")
	wantCode(t, err, store.ENOTFOUND)
	// Codes are case-sensitive.
	_, err = s.GetLink(ctx, "", "SPRING24")
	wantCode(t, err, store.ENOTFOUND)
}

func testCreateConflict(t *testing.T, s Store) {
	mustCreate(t, s, link("dup"))
	_, err := s.CreateLink(ctx, link("dup"))
	wantCode(t, err, store.ECONFLICT)
	back, _ := s.GetLink(ctx, "", "dup")
	if back.Destination != "https://example.com/dup" {
		t.Fatalf("conflicting create changed the link: %+v", back)
	}
}

func testDomains(t *testing.T, s Store) {
	a := link("promo")
	b := link("promo")
	b.Domain = "go.brand.example"
	b.Destination = "https://brand.example/"
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	got, err := s.GetLink(ctx, "go.brand.example", "promo")
	if err != nil || got.Destination != "https://brand.example/" {
		t.Fatalf("GetLink with domain = %+v, %v", got, err)
	}
	got, err = s.GetLink(ctx, "", "promo")
	if err != nil || got.Destination != "https://example.com/promo" {
		t.Fatalf("GetLink without domain = %+v, %v", got, err)
	}
}

func testUpdateVersion(t *testing.T, s Store) {
	created := mustCreate(t, s, link("upd"))
	next := created.Clone()
	next.Destination = "https://example.com/new"
	updated, err := s.UpdateLink(ctx, next, created.Version)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version <= created.Version || !updated.CreatedAt.Equal(created.CreatedAt) || updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Fatalf("update did not advance version/times: %+v after %+v", updated, created)
	}
	// A stale version is refused and changes nothing.
	stale := created.Clone()
	stale.Destination = "https://example.com/stale"
	_, err = s.UpdateLink(ctx, stale, created.Version)
	wantCode(t, err, store.EPRECONDITION)
	back, _ := s.GetLink(ctx, "", "upd")
	if back.Destination != "https://example.com/new" || back.Version != updated.Version {
		t.Fatalf("stale update changed the link: %+v", back)
	}
	// Version 0 means unconditional.
	if _, err := s.UpdateLink(ctx, stale, 0); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateLink(ctx, link("nope"), 0)
	wantCode(t, err, store.ENOTFOUND)
}

func testDelete(t *testing.T, s Store) {
	l := mustCreate(t, s, link("del"))
	wantCode(t, s.DeleteLink(ctx, "", "del", l.Version+100), store.EPRECONDITION)
	if err := s.DeleteLink(ctx, "", "del", l.Version); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetLink(ctx, "", "del")
	wantCode(t, err, store.ENOTFOUND)
	wantCode(t, s.DeleteLink(ctx, "", "del", 0), store.ENOTFOUND)
	// A re-created link gets a higher version than the deleted one, so
	// change-feed consumers can order them.
	again := mustCreate(t, s, link("del"))
	if again.Version <= l.Version {
		t.Fatalf("re-created version %d <= deleted %d", again.Version, l.Version)
	}
}

func testConcurrentUpdates(t *testing.T, s Store) {
	base := mustCreate(t, s, link("race"))
	const n = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := base.Clone()
			l.Destination = fmt.Sprintf("https://example.com/%d", i)
			_, err := s.UpdateLink(ctx, l, base.Version)
			switch store.ErrorCode(err) {
			case "":
				wins.Add(1)
			case store.EPRECONDITION:
			default:
				t.Errorf("update %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent updates with the same If-Match version won, want exactly 1", wins.Load())
	}
}

func testListPaging(t *testing.T, s Store) {
	const n = 25
	for i := 0; i < n; i++ {
		mustCreate(t, s, link(fmt.Sprintf("c%02d", i)))
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		p, err := s.ListLinks(ctx, store.ListOptions{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Links) > 10 {
			t.Fatalf("page of %d links, limit 10", len(p.Links))
		}
		for _, l := range p.Links {
			all = append(all, l.Code)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if len(all) != n {
		t.Fatalf("listed %d links, want %d: %v", len(all), n, all)
	}
	for i, c := range all {
		if c != fmt.Sprintf("c%02d", i) {
			t.Fatalf("listing out of order at %d: %v", i, all)
		}
	}
	// Exactly one full page: no cursor.
	p, err := s.ListLinks(ctx, store.ListOptions{Limit: n})
	if err != nil || len(p.Links) != n || p.NextCursor != "" {
		t.Fatalf("full page: %d links, cursor %q, %v", len(p.Links), p.NextCursor, err)
	}
}

func testListTag(t *testing.T, s Store) {
	for i := 0; i < 6; i++ {
		l := link(fmt.Sprintf("t%d", i))
		if i%2 == 0 {
			l.Tags = []string{"even"}
		}
		mustCreate(t, s, l)
	}
	got := listAll(t, s, store.ListOptions{Tag: "even", Limit: 2})
	if fmt.Sprint(got) != "[t0 t2 t4]" {
		t.Fatalf("tag listing = %v", got)
	}
	// Changing tags moves the link in and out of the listing.
	l, _ := s.GetLink(ctx, "", "t0")
	l.Tags = []string{"odd"}
	if _, err := s.UpdateLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLink(ctx, "", "t2", 0); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, s, store.ListOptions{Tag: "even"}); fmt.Sprint(got) != "[t4]" {
		t.Fatalf("tag listing after changes = %v", got)
	}
	if got := listAll(t, s, store.ListOptions{Tag: "none"}); len(got) != 0 {
		t.Fatalf("unknown tag listed %v", got)
	}
}

func listAll(t *testing.T, s Store, opt store.ListOptions) []string {
	t.Helper()
	var out []string
	ended := eachPage(t, 100, func(cursor string) (string, error) {
		opt.Cursor = cursor
		p, err := s.ListLinks(ctx, opt)
		if err != nil {
			return "", err
		}
		for _, l := range p.Links {
			out = append(out, l.Code)
		}
		return p.NextCursor, nil
	})
	if !ended {
		t.Fatal("paging does not end")
	}
	return out
}

// eachPage pages through a listing: page lists the page at cursor ("" for
// the first) and returns the next cursor, "" after the last page. eachPage
// fails t on an error, stops after max pages and reports whether it
// reached the last page.
func eachPage(t *testing.T, max int, page func(cursor string) (next string, err error)) bool {
	t.Helper()
	cursor := ""
	for range max {
		next, err := page(cursor)
		if err != nil {
			t.Fatal(err)
		}
		if next == "" {
			return true
		}
		cursor = next
	}
	return false
}

func testListBadCursor(t *testing.T, s Store) {
	_, err := s.ListLinks(ctx, store.ListOptions{Cursor: "!!not-a-cursor!!"})
	wantCode(t, err, store.EINVALID)
}

func testChangeFeed(t *testing.T, s Store) {
	var mu sync.Mutex
	var got []store.Change
	s.Subscribe(func(c store.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	l := mustCreate(t, s, link("feed"))
	l.Destination = "https://example.com/changed"
	if _, err := s.UpdateLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLink(ctx, "", "feed", 0); err != nil {
		t.Fatal(err)
	}
	_, _ = s.CreateLink(ctx, link("feed2"))
	_, _ = s.CreateLink(ctx, link("feed2")) // conflict: no change
	// Backends on a server deliver asynchronously: wait a little.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 4 {
			break
		}
	}
	time.Sleep(20 * time.Millisecond) // a fifth, wrong change would show now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("got %d changes, want 4: %+v", len(got), got)
	}
	ops := []store.ChangeOp{store.OpPut, store.OpPut, store.OpDelete, store.OpPut}
	for i, c := range got {
		if c.Op != ops[i] || c.Link == nil {
			t.Fatalf("change %d = %+v, want op %d", i, c, ops[i])
		}
		if i > 0 && c.Version <= got[i-1].Version {
			t.Fatalf("change versions not increasing: %d after %d", c.Version, got[i-1].Version)
		}
	}
	if got[1].Link.Destination != "https://example.com/changed" {
		t.Fatalf("update change carries %q", got[1].Link.Destination)
	}
}

func testKeys(t *testing.T, s Store) {
	secret, k := store.NewAPIKey()
	k.Name, k.Scope = "ci", store.ScopeRead
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyByHash(ctx, store.HashAPIKey(secret))
	if err != nil || got.ID != k.ID || got.Scope != store.ScopeRead || got.Name != "ci" {
		t.Fatalf("KeyByHash = %+v, %v", got, err)
	}
	_, err = s.KeyByHash(ctx, store.HashAPIKey(secret+"x"))
	wantCode(t, err, store.ENOTFOUND)
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	if err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.RevokeKey(ctx, k.ID), store.ENOTFOUND)
	_, err = s.KeyByHash(ctx, store.HashAPIKey(secret))
	wantCode(t, err, store.ENOTFOUND)
}

func bulkLinks(prefix string, n int) []*store.Link {
	links := make([]*store.Link, n)
	for i := range links {
		l := link(fmt.Sprintf("%s%d", prefix, i))
		if i%3 == 0 {
			l.Tags = []string{"bulk", fmt.Sprintf("t%d", i%7)}
		}
		links[i] = l
	}
	return links
}

// testBulkCreate creates more links than one Redis script call takes, some
// of which exist or repeat within the call.
func testBulkCreate(t *testing.T, s Store) {
	var changes atomic.Int64
	s.Subscribe(func(store.Change) { changes.Add(1) })
	mustCreate(t, s, link("bk5"))
	mustCreate(t, s, link("bk2400"))
	links := bulkLinks("bk", 2500)
	links = append(links, link("bk7")) // a repeat within the call
	got, errs, err := s.CreateLinks(ctx, links, false)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	created := 0
	for i, l := range got {
		switch i {
		case 5, 2400, 2500:
			if l != nil || store.ErrorCode(errs[i]) != store.ECONFLICT {
				t.Fatalf("link %d: %v, %v; want a conflict", i, l, errs[i])
			}
			continue
		}
		if errs[i] != nil || l == nil || l.Code != links[i].Code || l.CreatedAt.IsZero() {
			t.Fatalf("link %d: %+v, %v", i, l, errs[i])
		}
		if l.Version <= last {
			t.Fatalf("link %d: version %d after %d", i, l.Version, last)
		}
		last = l.Version
		created++
	}
	if created != 2498 {
		t.Fatalf("created %d, want 2498", created)
	}
	stored, err := s.GetLink(ctx, "", "bk2499")
	if err != nil || stored.Version != got[2499].Version || stored.Destination != links[2499].Destination {
		t.Fatalf("GetLink after bulk: %+v, %v", stored, err)
	}
	if n := len(listAll(t, s, store.ListOptions{Tag: "bulk"})); n != 833 {
		t.Fatalf("tag bulk lists %d links, want 833 (bk2400 existed untagged)", n)
	}
	if n := len(listAll(t, s, store.ListOptions{})); n != 2500 {
		t.Fatalf("store lists %d links, want 2500", n)
	}
	for deadline := time.Now().Add(5 * time.Second); changes.Load() < 2500 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	if n := changes.Load(); n != 2500 {
		t.Fatalf("%d changes, want 2500 (2 creates + 2498 bulk)", n)
	}
}

// testBulkAtomic checks that an atomic call with one conflict writes
// nothing and names every conflict.
func testBulkAtomic(t *testing.T, s Store) {
	mustCreate(t, s, link("at3"))
	links := bulkLinks("at", 1500)
	got, errs, err := s.CreateLinks(ctx, links, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range links {
		if got[i] != nil {
			t.Fatalf("atomic call with a conflict created link %d", i)
		}
		if (i == 3) != (errs[i] != nil) {
			t.Fatalf("link %d: error %v", i, errs[i])
		}
	}
	wantCode(t, errs[3], store.ECONFLICT)
	if n := len(listAll(t, s, store.ListOptions{})); n != 1 {
		t.Fatalf("store lists %d links after a failed atomic call, want 1", n)
	}
	// A repeat within an atomic call fails it too.
	_, errs, err = s.CreateLinks(ctx, []*store.Link{link("x1"), link("x2"), link("x1")}, true)
	if err != nil || errs[0] != nil || errs[1] != nil || store.ErrorCode(errs[2]) != store.ECONFLICT {
		t.Fatalf("repeat: %v %v", errs, err)
	}
	if _, err := s.GetLink(ctx, "", "x1"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("a failed atomic call wrote x1: %v", err)
	}
	// Without conflicts, everything is created.
	got, errs, err = s.CreateLinks(ctx, bulkLinks("ok", 1200), true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] == nil || errs[i] != nil {
			t.Fatalf("link %d: %v, %v", i, got[i], errs[i])
		}
	}
	if n := len(listAll(t, s, store.ListOptions{})); n != 1201 {
		t.Fatalf("store lists %d links, want 1201", n)
	}
	// Empty calls are fine.
	if got, errs, err := s.CreateLinks(ctx, nil, true); err != nil || len(got) != 0 || len(errs) != 0 {
		t.Fatalf("empty call: %v %v %v", got, errs, err)
	}
}

// testLinksExist checks LinksExist against stored, deleted and unknown
// links, on more links than one Redis call takes.
func testLinksExist(t *testing.T, s Store) {
	mustCreate(t, s, link("ex1"))
	onDomain := link("ex2")
	onDomain.Domain = "d.example"
	mustCreate(t, s, onDomain)
	mustCreate(t, s, link("ex3"))
	if err := s.DeleteLink(ctx, "", "ex3", 0); err != nil {
		t.Fatal(err)
	}
	otherDomain := link("ex1")
	otherDomain.Domain = "d.example"
	bare := link("ex2")
	links := append([]*store.Link{link("ex1"), otherDomain, onDomain, bare, link("ex3")}, bulkLinks("none", 2500)...)
	links = append(links, link("ex1"))
	exist, err := s.LinksExist(ctx, links)
	if err != nil {
		t.Fatal(err)
	}
	if len(exist) != len(links) {
		t.Fatalf("%d answers for %d links", len(exist), len(links))
	}
	for i, e := range exist {
		want := i == 0 || i == 2 || i == len(links)-1
		if e != want {
			t.Fatalf("link %d (%s on %q): exists = %v, want %v", i, links[i].Code, links[i].Domain, e, want)
		}
	}
	if exist, err := s.LinksExist(ctx, nil); err != nil || len(exist) != 0 {
		t.Fatalf("empty call: %v %v", exist, err)
	}
	if n := len(listAll(t, s, store.ListOptions{})); n != 2 {
		t.Fatalf("LinksExist wrote: the store lists %d links, want 2", n)
	}
}

// Unstamped returns copies of links without the fields a store sets
// (Version, CreatedAt, UpdatedAt), to compare the links a test wrote with
// the links it reads back.
func Unstamped(links []*store.Link) []*store.Link {
	out := make([]*store.Link, len(links))
	for i, l := range links {
		c := l.Clone()
		c.Version, c.CreatedAt, c.UpdatedAt = 0, time.Time{}, time.Time{}
		out[i] = c
	}
	return out
}
