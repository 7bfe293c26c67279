package redirect

import (
	"fmt"
	"testing"

	"github.com/qredge/qredge/store"
)

// TestIndex builds indexes of every size up to 100 (small ones wrap
// around their end when probing) and finds every code in them and none
// of the others, then merges changes into one.
func TestIndex(t *testing.T) {
	links := make([]*Link, 200)
	for i := range links {
		links[i] = Compile(&store.Link{Code: fmt.Sprintf("k%d", i), Destination: "https://example.com/"})
	}
	check := func(x *index, in func(i int) bool) {
		t.Helper()
		for i, l := range links {
			got := x.get(hashCode(l.code()), []byte(l.code()))
			if (got == l) != in(i) || (got != nil && got != l) {
				t.Fatalf("index of %d: get(%q) = %v, want it: %v", x.n, l.code(), got, in(i))
			}
		}
	}
	for n := 0; n <= 100; n++ {
		x := newIndex(n)
		for _, l := range links[:n] {
			x.add(l)
		}
		check(x, func(i int) bool { return i < n })
	}
	x := newIndex(100)
	for _, l := range links[:100] {
		x.add(l)
	}
	// Delete the even ones below 100, add 100-149.
	delta := map[string]*Link{}
	for i := 0; i < 150; i++ {
		switch {
		case i < 100 && i%2 == 0:
			delta[links[i].code()] = nil
		case i >= 100:
			delta[links[i].code()] = links[i]
		}
	}
	y := x.merged(delta)
	check(y, func(i int) bool { return i < 100 && i%2 == 1 || i >= 100 && i < 150 })
	if y.n != 100 {
		t.Fatalf("merged index holds %d, want 100", y.n)
	}
	check(x, func(i int) bool { return i < 100 }) // unchanged
}
