package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

func links(n int) []*store.Link {
	created := testclock.Date(2026, 11, 20, 9, 0, 0)
	out := make([]*store.Link, n)
	for i := range out {
		l := &store.Link{Code: fmt.Sprintf("c%d", i), Destination: fmt.Sprintf("https://shop.example/p/%d?utm_source=qr&utm_medium=print", i),
			Status: 302, Version: uint64(i + 1), CreatedAt: created, UpdatedAt: created, Tags: []string{"bf26"}}
		if i%7 == 0 {
			l.Domain = "go.brand.example"
			l.Variants = []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 60}, {Name: "b", Destination: "https://b.example/", Weight: 40}}
		}
		out[i] = l
	}
	return out
}

func build(t *testing.T, ls []*store.Link, chunk int) (Meta, [][]byte) {
	t.Helper()
	b := NewBuilder("ds-1", "1700000000000-5", chunk)
	for _, l := range ls {
		b.Add(l)
	}
	return b.Finish()
}

func decodeAll(frames [][]byte, workers int) ([]*store.Link, error) {
	var got []*store.Link
	err := Decode(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), workers, func(ls []*store.Link) { got = append(got, ls...) })
	return got, err
}

func sameSet(t *testing.T, got, want []*store.Link) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d links, want %d", len(got), len(want))
	}
	byKey := map[string][]byte{}
	for _, l := range want {
		j, _ := json.Marshal(l)
		byKey[store.LinkKey(l.Domain, l.Code)] = j
	}
	for _, l := range got {
		j, _ := json.Marshal(l)
		if w := byKey[store.LinkKey(l.Domain, l.Code)]; !bytes.Equal(j, w) {
			t.Fatalf("link %s:\n%s\nwant\n%s", l.Code, j, w)
		}
	}
}

func TestRoundTripFile(t *testing.T) {
	ls := links(10000)
	m, frames := build(t, ls, 1000)
	if m.Links != 10000 || m.Chunks != 10 || m.MaxVersion != 10000 || m.Dataset != "ds-1" || m.Position != "1700000000000-5" {
		t.Fatalf("meta %+v", m)
	}
	path := filepath.Join(t.TempDir(), "links.snap")
	if err := WriteFile(path, m, frames); err != nil {
		t.Fatal(err)
	}
	m2, frames2, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Links != m.Links || m2.Chunks != m.Chunks || m2.Position != m.Position || !m2.Created.Equal(m.Created) {
		t.Fatalf("meta read back %+v, wrote %+v", m2, m)
	}
	for _, workers := range []int{1, 4} {
		got, err := decodeAll(frames2, workers)
		if err != nil {
			t.Fatal(err)
		}
		sameSet(t, got, ls)
	}
	st, _ := os.Stat(path)
	t.Logf("10,000 links: %d bytes on disk (%.1f per link), %d in chunks", st.Size(), float64(st.Size())/10000, m.Bytes)
}

func TestEmpty(t *testing.T) {
	m, frames := build(t, nil, 0)
	if m.Links != 0 || m.Chunks != 0 || len(frames) != 0 {
		t.Fatalf("empty snapshot %+v, %d frames", m, len(frames))
	}
	path := filepath.Join(t.TempDir(), "s")
	if err := WriteFile(path, m, frames); err != nil {
		t.Fatal(err)
	}
	if m2, f2, err := ReadFile(path); err != nil || m2.Links != 0 || len(f2) != 0 {
		t.Fatalf("read empty: %+v %d %v", m2, len(f2), err)
	}
}

// Every single-byte change of a file is refused (never half-loaded, never
// a different link), and so is every truncation.
func TestDamageRefused(t *testing.T) {
	m, frames := build(t, links(300), 100)
	path := filepath.Join(t.TempDir(), "s")
	if err := WriteFile(path, m, frames); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	check := func(what string, b []byte) {
		t.Helper()
		_, fr, err := Parse(b)
		if err == nil {
			_, err = decodeAll(fr, 2)
		}
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("%s: err %v, want ErrDamaged", what, err)
		}
	}
	step := max(1, len(good)/400)
	for i := 0; i < len(good); i += step {
		b := bytes.Clone(good)
		b[i] ^= 0x41
		check(fmt.Sprintf("byte %d flipped", i), b)
	}
	for _, n := range []int{0, 5, 8, 20, len(good) / 2, len(good) - 1} {
		check(fmt.Sprintf("truncated to %d", n), good[:n])
	}
	check("a chunk too many", append(bytes.Clone(good), good[len(good)-10:]...))
}

func TestMetaChecked(t *testing.T) {
	m, _ := build(t, links(3), 0)
	b := EncodeMeta(m)
	if _, err := DecodeMeta(b); err != nil {
		t.Fatal(err)
	}
	b[3] ^= 1
	if _, err := DecodeMeta(b); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged meta: %v", err)
	}
}

func BenchmarkDecode(b *testing.B) {
	m, frames := build(&testing.T{}, links(100000), 0)
	b.ReportAllocs()
	b.SetBytes(m.Bytes)
	for b.Loop() {
		if _, err := decodeAll(frames, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/link")
}
