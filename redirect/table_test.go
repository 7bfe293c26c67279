package redirect

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/qredge/qredge/store"
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
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tb.Lookup(nil, []byte("hot")) == nil {
					t.Error("hot link vanished during updates")
					return
				}
			}
		}()
	}
	for i := 2; i < 3000; i++ {
		tb.Apply(put(testLink("", "hot", fmt.Sprintf("https://example.com/%d", i), uint64(i))))
		tb.Apply(put(testLink("", fmt.Sprintf("cold%d", i), "https://example.com/", uint64(i))))
	}
	close(stop)
	wg.Wait()
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
