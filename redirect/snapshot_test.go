package redirect

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
	snap "github.com/qredge/qredge/store/snapshot"
)

// BenchmarkSnapshot takes and loads snapshots of a table of 1 million
// typical links: what an edge's start from a snapshot costs, beyond the
// reading of the bytes.
//
//	go test -run '^$' -bench Snapshot -benchtime 3x ./redirect
//	QREDGE_BENCH_10M=1 go test -run '^$' -bench Snapshot/load-compiled -benchtime 2x ./redirect   # 10M links
func BenchmarkSnapshot(b *testing.B) {
	n := 1_000_000
	if v, _ := strconv.ParseBool(os.Getenv("QREDGE_BENCH_10M")); v {
		n = 10_000_000
	}
	tb := NewTable()
	bl := NewBuilder()
	created := testclock.Date(2026, 3, 1, 12, 0, 0)
	for i := range n {
		code := "c" + strconv.Itoa(i)
		bl.Add(&store.Link{Code: code, Destination: "https://shop.example.com/landing/" + code + "?utm_source=qr&utm_medium=print", Status: 302, Version: uint64(i + 1),
			Tags: []string{"spring"}, CreatedAt: created, UpdatedAt: created})
	}
	tb.Swap(bl)
	m, frames := tb.Snapshot("ds", "1-0", 0)
	b.Run("take", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tb.Snapshot("ds", "1-0", 0)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/link")
		b.ReportMetric(float64(m.Bytes)/float64(n), "B/link")
	})
	b.Run("load-compiled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t := NewTable()
			got, err := t.LoadSnapshot(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), n, nil)
			if err != nil || got != n || t.Len() != n {
				b.Fatal(err, got, t.Len())
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heapSysMiB-when-loaded")
			runtime.KeepAlive(t)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/link")
	})
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t := NewTable()
			err := t.Load(func(add func(*store.Link)) error {
				return snap.Decode(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), 0, func(ls []*store.Link) {
					for _, l := range ls {
						add(l)
					}
				})
			})
			if err != nil || t.Len() != n {
				b.Fatal(err, t.Len())
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/link")
	})
}

// TestCompileBinary: a link compiled from its binary form is the link
// Compile makes of it, plain or not.
func TestCompileBinary(t *testing.T) {
	at := testclock.Now().Add(24 * time.Hour).Truncate(time.Second) // a schedule not begun yet
	links := []*store.Link{
		{Code: "p", Destination: "https://example.com/p", Status: 302, Version: 1},
		{Code: "s0", Destination: "https://example.com/s", Version: 2},
		{Code: "d", Domain: "go.brand.example", Destination: "https://example.com/d?x=1#f", Status: 308, Version: 3, Tags: []string{"a", "b"}, CreatedAt: at, UpdatedAt: at},
		{Code: "f", Destination: "https://example.com/f?keep=1", Status: 302, Version: 4, ForwardQuery: true, QueryPrecedence: store.QueryScanWins},
		{Code: "off", Destination: "https://example.com/off", Status: 302, Version: 5, Disabled: true},
		{Code: "ab", Destination: "https://example.com/ab", Status: 302, Version: 6,
			Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 1}, {Name: "b", Destination: "https://b.example/", Weight: 2}},
			Rules:    []store.Rule{{When: store.Match{Device: []string{"ios"}}, Destination: "https://ios.example/"}}},
		{Code: "soon", Destination: "https://example.com/soon", Status: 302, Version: 7, Schedule: &store.Schedule{NotBefore: &at, BeforeURL: "https://example.com/wait"}},
	}
	for _, l := range links {
		got, err := CompileBinary(store.AppendLinkBinary(nil, l))
		if err != nil {
			t.Fatalf("%s: %v", l.Code, err)
		}
		if want := Compile(l); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: compiled from binary\n%+v\nwant\n%+v", l.Code, got, want)
		}
	}
	for _, bad := range [][]byte{nil, {2}, {1, 5}, store.AppendLinkBinary(nil, links[0])[:6]} {
		if _, err := CompileBinary(bad); err == nil {
			t.Fatalf("%q compiled", bad)
		}
	}
}

// TestLoadSnapshot: the compiled load gives the table Load gives, with
// codes bound to several domains merged and tombstones honoured.
func TestLoadSnapshot(t *testing.T) {
	src := NewTable()
	for i := range 2000 {
		code := fmt.Sprint("k", i%1500) // 500 codes with a second, domain-bound link
		l := testLink("", code, fmt.Sprint("https://example.com/", i), uint64(i+1))
		if i >= 1500 {
			l.Domain = "go.brand.example"
		}
		src.Apply(put(l))
	}
	m, frames := src.Snapshot("ds", "9-0", 300)
	tb := NewTable()
	tb.Apply(del(testLink("", "k7", "", 0), 5000)) // deleted after the snapshot was read
	n, err := tb.LoadSnapshot(func(i int) ([]byte, error) { return frames[i], nil }, m.Chunks, m.Links, nil)
	if err != nil || n != 2000 {
		t.Fatalf("loaded %d: %v", n, err)
	}
	if tb.Len() != 1999 || tb.Ready() || tb.MaxVersion() != 5000 {
		t.Fatalf("len %d ready %v (want false until SetReady) max version %d", tb.Len(), tb.Ready(), tb.MaxVersion())
	}
	tb.SetReady()
	if !tb.Ready() {
		t.Fatal("SetReady did not mark the table ready")
	}
	if tb.Lookup(nil, []byte("k7")) != nil {
		t.Fatal("a tombstoned link was loaded")
	}
	for i := range 2000 {
		code, host := fmt.Sprint("k", i%1500), "localhost"
		if i >= 1500 {
			host = "go.brand.example"
		}
		if i == 7 {
			continue
		}
		if got, want := dest(tb.Lookup([]byte(host), []byte(code))), fmt.Sprint("https://example.com/", i); got != want {
			t.Fatalf("%s on %s = %s, want %s", code, host, got, want)
		}
	}
	frames[1] = append([]byte(nil), frames[1]...)
	frames[1][len(frames[1])-3] ^= 0xff
	other := NewTable()
	if _, err := other.LoadSnapshot(func(i int) ([]byte, error) { return frames[i], nil }, m.Chunks, -1, nil); err == nil || other.Ready() || other.Len() != 0 {
		t.Fatalf("a damaged snapshot loaded: %v, len %d", err, other.Len())
	}
}
