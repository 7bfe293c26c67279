package redirect

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

// TestLinkLayout checks what the per-link memory budget rests on: a
// compiled Link fills the 48-byte size class, and its one string holds the
// key (with the code first, the table's map key, and the domain last), the
// Location, and the extras from which Stored gives the link back.
func TestLinkLayout(t *testing.T) {
	if n := unsafe.Sizeof(Link{}); n != 48 {
		t.Fatalf("Link is %d bytes, want 48", n)
	}
	f := func(domain, code, destination string) {
		t.Helper()
		l := Compile(&store.Link{Domain: domain, Code: code, Destination: destination})
		if l.key() != store.LinkKey(domain, code) || l.code() != code || l.domain() != domain || string(l.location()) != destination {
			t.Fatalf("(%q, %q, %q): key %q code %q domain %q location %q", domain, code, destination, l.key(), l.code(), l.domain(), l.location())
		}
		sl := &store.Link{Domain: domain, Code: code, Destination: destination}
		if want := len(l.key()) + len(destination) + len(store.AppendLinkExtras(nil, sl)); len(l.s) != want {
			t.Fatalf("(%q, %q): s is %q, want the key, the destination and the extras", domain, code, l.s)
		}
	}
	f("", "c1", "https://example.com/")
	f("go.brand.example", "promo", "https://brand.example/x?y=1#z")
	f("", "a", "")
}

// BenchmarkTableSize builds tables of 1 million links (and 10 million
// with QREDGE_BENCH_10M=1: about 3 GB and a few minutes) and reports the
// heap each link costs and the lookup time at that size:
//
//	QREDGE_BENCH_10M=1 go test -run '^$' -bench TableSize -benchtime 2000000x ./redirect
func BenchmarkTableSize(b *testing.B) {
	sizes := []int{1_000_000}
	if v, _ := strconv.ParseBool(os.Getenv("QREDGE_BENCH_10M")); v {
		sizes = append(sizes, 10_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			bl := NewBuilder()
			created := testclock.Date(2026, 3, 1, 12, 0, 0) // only stored
			for i := 0; i < n; i++ {
				// Typical campaign links: a short code, a landing page with UTM tags.
				code := "c" + strconv.Itoa(i)
				bl.Add(&store.Link{Code: code, Destination: "https://shop.example.com/landing/" + code + "?utm_source=qr&utm_medium=print", Status: 302, Version: uint64(i + 1),
					Tags: []string{"spring"}, CreatedAt: created, UpdatedAt: created})
			}
			tb := NewTable()
			tb.Swap(bl)
			bl = nil
			runtime.GC()
			runtime.ReadMemStats(&after)
			perLink := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
			codes := make([][]byte, 4096)
			for i := range codes {
				codes[i] = []byte("c" + strconv.Itoa((i*7919)%n))
			}
			b.ReportAllocs()
			b.ResetTimer()
			var l *Link
			for i := 0; i < b.N; i++ {
				l = tb.Lookup(nil, codes[i&4095])
			}
			b.StopTimer()
			sinkLink = l
			b.ReportMetric(perLink, "heapB/link")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heapMiB")
			runtime.KeepAlive(tb)
		})
	}
}

// TestStored: every link the table holds comes back as it was stored,
// group nodes (codes with domain-bound links) included.
func TestStored(t *testing.T) {
	created := testclock.Date(2026, 3, 1, 12, 0, 0).Add(5) // only stored
	in := []*store.Link{
		{Code: "a", Destination: "https://example.com/a", Status: 302, Version: 3, Tags: []string{"x"}, CreatedAt: created, UpdatedAt: created.Add(time.Second)},
		{Code: "a", Domain: "go.example", Destination: "https://example.com/ga", Status: 301, Version: 4, CreatedAt: created, UpdatedAt: created},
		{Code: "r", Destination: "https://example.com/r", Status: 302, Version: 5, ForwardQuery: true, QueryPrecedence: store.QueryScanWins,
			Rules:    []store.Rule{{When: store.Match{Device: []string{"ios"}, Query: map[string]string{"src": "tv"}}, Destination: "https://example.com/ios"}},
			Variants: []store.Variant{{Name: "v1", Destination: "https://example.com/1", Weight: 1}, {Name: "v2", Destination: "https://example.com/2", Weight: 3}},
			Schedule: &store.Schedule{NotAfter: &created, AfterURL: "https://example.com/over"}, Disabled: true, CreatedAt: created, UpdatedAt: created},
	}
	tb := NewTable()
	tb.Load(func(add func(*store.Link)) error {
		for _, l := range in {
			add(l)
		}
		return nil
	})
	got := map[string]*store.Link{}
	err := tb.EachLink(func(l *Link) error {
		sl, err := l.Stored()
		if err == nil {
			got[sl.Key()] = sl
		}
		return err
	})
	if err != nil || len(got) != len(in) {
		t.Fatalf("EachLink gave %d links (%v), want %d", len(got), err, len(in))
	}
	for _, l := range in {
		want, _ := json.Marshal(l)
		have, _ := json.Marshal(got[l.Key()])
		if string(want) != string(have) {
			t.Fatalf("stored\n%s\ngot back\n%s", want, have)
		}
	}
}
