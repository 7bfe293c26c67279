package redirect

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/qredge/qredge/store"
)

// TestLinkLayout checks what the per-link memory budget rests on: a
// compiled Link fills the 48-byte size class, and its one string holds the
// key (with the code first, the table's map key, and the domain last) and
// the Location.
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
		if len(l.s) != len(l.key())+len(destination) {
			t.Fatalf("(%q, %q): s is %q, want the key and the destination", domain, code, l.s)
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
			for i := 0; i < n; i++ {
				// Typical campaign links: a short code, a landing page with UTM tags.
				code := "c" + strconv.Itoa(i)
				bl.Add(&store.Link{Code: code, Destination: "https://shop.example.com/landing/" + code + "?utm_source=qr&utm_medium=print", Status: 302, Version: uint64(i + 1)})
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
