package redirect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
	"github.com/qredge/qredge/store"
	snap "github.com/qredge/qredge/store/snapshot"
)

func testLink(domain, code, dest string, version uint64) *store.Link {
	return &store.Link{Domain: domain, Code: code, Destination: dest, Status: 302, Version: version}
}

func put(l *store.Link) store.Change {
	return store.Change{Op: store.OpPut, Link: l, Version: l.Version}
}

func del(l *store.Link, version uint64) store.Change {
	return store.Change{Op: store.OpDelete, Link: l, Version: version}
}

func dest(l *Link) string {
	if l == nil {
		return "<nil>"
	}
	return string(l.location())
}

func TestTableDomains(t *testing.T) {
	tb := NewTable()
	tb.Apply(put(testLink("", "promo", "https://any.example/", 1)))
	tb.Apply(put(testLink("go.brand.example", "promo", "https://brand.example/", 2)))
	tb.Apply(put(testLink("other.example", "only", "https://other.example/", 3)))
	f := func(host, code, want string) {
		t.Helper()
		if got := dest(tb.Lookup([]byte(host), []byte(code))); got != want {
			t.Fatalf("Lookup(%q, %q) = %s, want %s", host, code, got, want)
		}
	}
	f("go.brand.example", "promo", "https://brand.example/")
	f("GO.Brand.Example:8080", "promo", "https://brand.example/")
	f("go.brand.example.", "promo", "https://brand.example/")
	f("localhost:8080", "promo", "https://any.example/")
	f("", "promo", "https://any.example/")
	f("[::1]:8080", "promo", "https://any.example/")
	f("other.example", "only", "https://other.example/")
	f("go.brand.example", "only", "<nil>")
	f("localhost", "PROMO", "<nil>")
	if tb.Len() != 3 {
		t.Fatalf("Len = %d, want 3", tb.Len())
	}
}

func TestTableApplyOrdering(t *testing.T) {
	tb := NewTable()
	l := testLink("", "x", "https://v2.example/", 2)
	tb.Apply(put(l))
	// An older version (a replay) is ignored.
	tb.Apply(put(testLink("", "x", "https://v1.example/", 1)))
	if got := dest(tb.Lookup(nil, []byte("x"))); got != "https://v2.example/" {
		t.Fatalf("stale put applied: %s", got)
	}
	// A delete older than the link is ignored; a newer one removes it.
	tb.Apply(del(l, 2))
	if tb.Lookup(nil, []byte("x")) == nil {
		t.Fatal("stale delete applied")
	}
	tb.Apply(del(l, 3))
	if tb.Lookup(nil, []byte("x")) != nil || tb.Len() != 0 {
		t.Fatalf("delete not applied, len %d", tb.Len())
	}
	// Deleting what is not there changes nothing.
	tb.Apply(del(l, 4))
	if tb.Len() != 0 {
		t.Fatalf("len %d after deleting a missing link", tb.Len())
	}
	// Domain-bound deletes leave the any-host link alone.
	tb.Apply(put(testLink("", "y", "https://any.example/", 5)))
	d := testLink("d.example", "y", "https://d.example/", 6)
	tb.Apply(put(d))
	tb.Apply(del(d, 7))
	if got := dest(tb.Lookup([]byte("d.example"), []byte("y"))); got != "https://any.example/" || tb.Len() != 1 {
		t.Fatalf("after domain delete: %s, len %d", got, tb.Len())
	}
}

// TestTableDeltaFolding drives many changes through one shard so that the
// delta is folded into the base several times, and checks the table against
// a plain map after every step.
func TestTableDeltaFolding(t *testing.T) {
	tb := NewTable()
	b := NewBuilder()
	want := map[string]string{}
	for i := 0; i < 2000; i++ {
		code := fmt.Sprintf("c%d", i)
		b.Add(testLink("", code, "https://example.com/"+code, uint64(i+1)))
		want[code] = "https://example.com/" + code
	}
	tb.Swap(b)
	if !tb.Ready() || tb.Len() != 2000 {
		t.Fatalf("after swap: ready %v len %d", tb.Ready(), tb.Len())
	}
	v := uint64(10000)
	for round := 0; round < 5; round++ {
		for i := 0; i < 2000; i += 3 {
			v++
			code := fmt.Sprintf("c%d", i)
			if (i+round)%2 == 0 {
				tb.Apply(del(testLink("", code, "", 0), v))
				delete(want, code)
			} else {
				d := fmt.Sprintf("https://example.com/%s/%d", code, round)
				tb.Apply(put(testLink("", code, d, v)))
				want[code] = d
			}
		}
		for i := 0; i < 2000; i++ {
			code := fmt.Sprintf("c%d", i)
			w, ok := want[code]
			if !ok {
				w = "<nil>"
			}
			if got := dest(tb.Lookup(nil, []byte(code))); got != w {
				t.Fatalf("round %d: %s = %s, want %s", round, code, got, w)
			}
		}
		if tb.Len() != len(want) {
			t.Fatalf("round %d: len %d, want %d", round, tb.Len(), len(want))
		}
	}
}

func TestTableConcurrentReadWrite(t *testing.T) {
	tb := NewTable()
	tb.Apply(put(testLink("", "hot", "https://example.com/0", 1)))
	stop := testwait.Loop(t, 4, func(int) bool {
		if tb.Lookup(nil, []byte("hot")) == nil {
			t.Error("hot link vanished during updates")
			return false
		}
		return true
	})
	for i := 2; i < 3000; i++ {
		tb.Apply(put(testLink("", "hot", fmt.Sprintf("https://example.com/%d", i), uint64(i))))
		tb.Apply(put(testLink("", fmt.Sprintf("cold%d", i), "https://example.com/", uint64(i))))
	}
	stop()
	if got := dest(tb.Lookup(nil, []byte("hot"))); got != "https://example.com/2999" {
		t.Fatalf("final hot = %s", got)
	}
}

func TestTableLoadVersionsEach(t *testing.T) {
	tb := NewTable()
	err := tb.Load(func(add func(*store.Link)) error {
		add(testLink("", "a", "https://a.example/", 3))
		add(testLink("d.example", "a", "https://d.example/", 4))
		add(testLink("", "b", "https://b.example/", 5))
		return nil
	})
	if err != nil || !tb.Ready() || tb.Len() != 3 {
		t.Fatalf("Load: %v ready %v len %d", err, tb.Ready(), tb.Len())
	}
	tb.Apply(del(testLink("", "b", "", 0), 6))
	tb.Apply(put(testLink("", "c", "https://c.example/", 7)))
	for _, tc := range []struct {
		domain, code string
		v            uint64
		ok           bool
	}{{"", "a", 3, true}, {"d.example", "a", 4, true}, {"x.example", "a", 0, false}, {"", "b", 0, false}, {"", "c", 7, true}} {
		if v, ok := tb.VersionOf(tc.domain, tc.code); v != tc.v || ok != tc.ok {
			t.Fatalf("VersionOf(%q, %q) = %d %v", tc.domain, tc.code, v, ok)
		}
	}
	seen := map[string]uint64{}
	tb.Each(func(domain, code string, v uint64) { seen[domain+"/"+code] = v })
	if fmt.Sprint(seen) != "map[/a:3 /c:7 d.example/a:4]" {
		t.Fatalf("Each saw %v", seen)
	}
	// A failed load publishes nothing.
	if err := tb.Load(func(add func(*store.Link)) error {
		add(testLink("", "z", "https://z.example/", 9))
		return fmt.Errorf("boom")
	}); err == nil || tb.Len() != 3 {
		t.Fatalf("failed load: %v, len %d", err, tb.Len())
	}
}

// TestTableModel applies random puts and deletes of links bound to a few
// domains (or none) and checks Lookup, VersionOf, Len and Each against a
// plain map after every change: codes move between one link, a group of
// links and nothing, through the delta and the folded base.
func TestTableModel(t *testing.T) {
	tb := NewTable()
	type linkID struct{ domain, code string }
	want := map[linkID]uint64{}
	domains := []string{"", "a.example", "b.example"}
	// Codes of one shard, so that its delta is folded many times.
	var codes []string
	for i := 0; len(codes) < 200; i++ {
		if c := fmt.Sprintf("c%d", i); hashCode(c)%numShards == 0 {
			codes = append(codes, c)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for step := 0; step < 3000; step++ {
		id := linkID{domains[rnd.IntN(len(domains))], codes[rnd.IntN(len(codes))]}
		v := uint64(step + 1)
		if rnd.IntN(3) == 0 {
			tb.Apply(del(testLink(id.domain, id.code, "", 0), v))
			delete(want, id)
		} else {
			tb.Apply(put(testLink(id.domain, id.code, fmt.Sprintf("https://%s.example/%s/%d", id.domain, id.code, v), v)))
			want[id] = v
		}
		if tb.Len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, tb.Len(), len(want))
		}
		for _, d := range domains {
			// The link bound to the host's domain, else the one for every host.
			w, ok := want[linkID{d, id.code}]
			wantDest := fmt.Sprintf("https://%s.example/%s/%d", d, id.code, w)
			if !ok {
				w, ok = want[linkID{"", id.code}]
				wantDest = fmt.Sprintf("https://.example/%s/%d", id.code, w)
			}
			if !ok {
				wantDest = "<nil>"
			}
			if got := dest(tb.Lookup([]byte(d), []byte(id.code))); got != wantDest {
				t.Fatalf("step %d: Lookup(%q, %q) = %s, want %s", step, d, id.code, got, wantDest)
			}
			w, ok = want[linkID{d, id.code}]
			if gv, gok := tb.VersionOf(d, id.code); gv != w || gok != ok {
				t.Fatalf("step %d: VersionOf(%q, %q) = %d %v, want %d %v", step, d, id.code, gv, gok, w, ok)
			}
		}
		if step%100 == 0 || step == 2999 {
			seen := map[linkID]uint64{}
			tb.Each(func(domain, code string, v uint64) { seen[linkID{domain, code}] = v })
			if fmt.Sprint(seen) != fmt.Sprint(want) {
				t.Fatalf("step %d: Each saw %v, want %v", step, seen, want)
			}
		}
	}
}

func TestTableTombstones(t *testing.T) {
	tb := NewTable()
	l := testLink("", "gone", "https://v1.example/", 1)
	tb.Apply(put(l))
	tb.Apply(del(l, 2))
	if tb.Tombstones() != 1 {
		t.Fatalf("tombstones = %d, want 1", tb.Tombstones())
	}
	// A put read before the delete (a fallback or resync answer arriving
	// late) is stale: the link stays deleted.
	tb.Apply(put(testLink("", "gone", "https://v1.example/", 1)))
	tb.Apply(put(testLink("", "gone", "https://v1.example/", 2)))
	if got := dest(tb.Lookup(nil, []byte("gone"))); got != "<nil>" || tb.Len() != 0 {
		t.Fatalf("deleted link came back: %s, len %d", got, tb.Len())
	}
	// A delete that arrives before the put it deletes is remembered too.
	tb.Apply(del(testLink("", "early", "", 0), 9))
	tb.Apply(put(testLink("", "early", "https://early.example/", 8)))
	if tb.Lookup(nil, []byte("early")) != nil {
		t.Fatal("a put older than a delete seen first was applied")
	}
	// Re-created later than the delete: back, and the tombstone is gone.
	tb.Apply(put(testLink("", "gone", "https://v3.example/", 3)))
	if got := dest(tb.Lookup(nil, []byte("gone"))); got != "https://v3.example/" {
		t.Fatalf("re-created link = %s", got)
	}
	if tb.Tombstones() != 1 {
		t.Fatalf("tombstones = %d, want 1 (early)", tb.Tombstones())
	}
	// Domain-bound links have their own tombstones.
	tb.Apply(put(testLink("go.brand.example", "gone", "https://brand.example/", 10)))
	tb.Apply(del(testLink("go.brand.example", "gone", "", 0), 11))
	tb.Apply(put(testLink("go.brand.example", "gone", "https://brand.example/", 10)))
	if got := dest(tb.Lookup([]byte("go.brand.example"), []byte("gone"))); got != "https://v3.example/" {
		t.Fatalf("domain-bound link came back: %s", got)
	}
}

func TestTableReloadHonoursTombstones(t *testing.T) {
	tb := NewTable()
	tb.Apply(put(testLink("", "a", "https://a.example/", 1)))
	tb.Apply(put(testLink("", "b", "https://b.example/", 2)))
	// A reload that read Redis before "a" was deleted, applied after.
	tb.Apply(del(testLink("", "a", "", 0), 3))
	err := tb.Load(func(add func(*store.Link)) error {
		add(testLink("", "a", "https://a.example/", 1))
		add(testLink("", "b", "https://b.example/", 2))
		add(testLink("", "c", "https://c.example/", 4))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Lookup(nil, []byte("a")) != nil {
		t.Fatal("a reload brought back a link deleted after it read it")
	}
	if tb.Len() != 2 || tb.Lookup(nil, []byte("b")) == nil || tb.Lookup(nil, []byte("c")) == nil {
		t.Fatalf("len %d after reload, want b and c", tb.Len())
	}
}

func TestTableTombstonesExpire(t *testing.T) {
	tb := NewTable()
	tb.SetTombstoneTTL(time.Second)
	tb.Apply(del(testLink("", "old", "", 0), 5))
	// Age the tombstone past its TTL.
	sh := &tb.shards[hashCode("old")%numShards]
	sh.mu.Lock()
	ts := sh.tombs[store.LinkKey("", "old")]
	ts.at -= int64(2 * time.Second)
	sh.tombs[store.LinkKey("", "old")] = ts
	sh.lastPrune -= int64(2 * time.Second)
	sh.mu.Unlock()
	// Tombstones are pruned when a later delete reaches their shard.
	other := ""
	for i := 0; other == ""; i++ {
		if c := fmt.Sprint("c", i); hashCode(c)%numShards == hashCode("old")%numShards {
			other = c
		}
	}
	tb.Apply(del(testLink("", other, "", 0), 6))
	if tb.Tombstones() != 1 {
		t.Fatalf("tombstones = %d, want 1 (the expired one pruned)", tb.Tombstones())
	}
	// With it gone, an old put is applied again: why the TTL outlasts
	// any Redis read.
	tb.Apply(put(testLink("", "old", "https://old.example/", 4)))
	if tb.Lookup(nil, []byte("old")) == nil {
		t.Fatal("pruned tombstone still refused a put")
	}
}

func TestTableSnapshotRoundTrip(t *testing.T) {
	tb := NewTable()
	want := map[string]*store.Link{}
	for i := range 3000 {
		l := testLink("", fmt.Sprint("s", i), fmt.Sprintf("https://example.com/%d?utm_source=qr", i), uint64(i+1))
		if i%5 == 0 {
			l.Domain = "go.brand.example"
		}
		if i%11 == 0 {
			l.Tags = []string{"tv"}
			l.Variants = []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 1}, {Name: "b", Destination: "https://b.example/", Weight: 3}}
		}
		tb.Apply(put(l))
		want[store.LinkKey(l.Domain, l.Code)] = l
	}
	m, frames := tb.Snapshot("ds", "5-0", 700)
	if m.Links != 3000 || m.Chunks != 5 || m.MaxVersion != 3000 {
		t.Fatalf("meta %+v", m)
	}
	b := NewBuilder()
	err := snap.Decode(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), 2, b.AddAll)
	if err != nil {
		t.Fatal(err)
	}
	got := NewTable()
	got.Swap(b)
	if got.Len() != 3000 {
		t.Fatalf("len %d", got.Len())
	}
	err = got.EachLink(func(l *Link) error {
		sl, err := l.Stored()
		if err != nil {
			return err
		}
		w := want[store.LinkKey(sl.Domain, sl.Code)]
		if !reflect.DeepEqual(sl, w) {
			t.Fatalf("link %s: %+v, want %+v", sl.Code, sl, w)
		}
		// The table's own binary form is store's.
		if a, b := l.AppendBinary(nil), store.AppendLinkBinary(nil, w); !bytes.Equal(a, b) {
			t.Fatalf("link %s: binary form differs from store's", sl.Code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTableTags: the tags of a link in the table, read from its stored
// form; nil for a link without tags and for one not there.
func TestTableTags(t *testing.T) {
	tagged := testLink("", "a", "https://a.example/", 1)
	tagged.Tags = []string{"spring", "tv"}
	tb := newTestTable(tagged, testLink("d.example", "a", "https://d.example/", 2))
	if got := tb.Tags("", "a"); fmt.Sprint(got) != "[spring tv]" {
		t.Fatalf("Tags of a tagged link = %q", got)
	}
	if got := tb.Tags("d.example", "a"); got != nil {
		t.Fatalf("Tags of a link without tags = %q", got)
	}
	if got := tb.Tags("", "nope"); got != nil {
		t.Fatalf("Tags of a missing link = %q", got)
	}
}
