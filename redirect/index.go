package redirect

import (
	"math/bits"

	"github.com/qredge/qredge/store"
)

// index is the immutable base of a shard's snapshot: an open-addressing
// hash table of links by code, built once and never modified. A Go map
// cost 30 to 56 bytes per code at the table's sizes (a 24-byte slot for
// the code and the pointer, at whatever load the map had grown to); this
// costs about 12: a pointer and a one-byte tag per slot, at a load of 3/4
// chosen when it is built. The code is not stored: the link holds it.
//
// The slot of a code comes from its xxhash, the one that picked the
// shard; the tag (never 0, which marks an empty slot) is 8 more bits of
// it, so a probe dereferences a link only when its tag matches. Probing
// is linear; there is always an empty slot, which ends a miss.
type index struct {
	tags  []uint8
	links []*Link
	n     int // links held
}

// newIndex returns an empty index with room for n links.
func newIndex(n int) *index {
	size := n + n/3 + 1
	return &index{tags: make([]uint8, size), links: make([]*Link, size)}
}

func tagOf(h uint64) uint8 {
	if t := uint8(h >> 32); t != 0 {
		return t
	}
	return 1
}

// slot maps a hash to [0, len(tags)) by multiplication: the size need not
// be a power of two.
func (x *index) slot(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(x.tags)))
	return int(hi)
}

// get returns the link (or group node) for code, whose hash is h, or nil.
func (x *index) get(h uint64, code []byte) *Link {
	if x.n == 0 {
		return nil
	}
	tag := tagOf(h)
	for i := x.slot(h); ; {
		switch x.tags[i] {
		case 0:
			return nil
		case tag:
			if l := x.links[i]; l.code() == string(code) {
				return l
			}
		}
		if i++; i == len(x.tags) {
			i = 0
		}
	}
}

// add adds l, whose code must not be in x yet, while x is being built.
func (x *index) add(l *Link) {
	if x.n+1 >= len(x.tags) {
		panic("BUG: index built too small")
	}
	h := hashCode(l.code())
	i := x.slot(h)
	for x.tags[i] != 0 {
		if i++; i == len(x.tags) {
			i = 0
		}
	}
	x.tags[i], x.links[i] = tagOf(h), l
	x.n++
}

// put adds l while x is being built, merging it with a link of the same
// code already there (a domain-bound link beside another, or the same
// link twice: the higher version wins). It returns the change in the
// number of links.
func (x *index) put(l *Link) int {
	if x.n+1 >= len(x.tags) {
		panic("BUG: index built too small")
	}
	code := l.code()
	h := hashCode(code)
	tag := tagOf(h)
	i := x.slot(h)
	for x.tags[i] != 0 {
		if x.tags[i] == tag && x.links[i].code() == code {
			n, delta := withCompiled(x.links[i], l.domain(), store.OpPut, l.version, func() *Link { return l })
			x.links[i] = n
			return delta
		}
		if i++; i == len(x.tags) {
			i = 0
		}
	}
	if l.domain() != "" {
		l, _ = withCompiled(nil, l.domain(), store.OpPut, l.version, func() *Link { return l }) // its group node
	}
	x.tags[i], x.links[i] = tag, l
	x.n++
	return 1
}

// merged returns a new index with the changes of delta (a nil link
// deletes the code) applied to x.
func (x *index) merged(delta map[string]*Link) *index {
	n := x.n
	for code, l := range delta {
		inBase := x.get(hashCode(code), []byte(code)) != nil
		switch {
		case inBase && l == nil:
			n--
		case !inBase && l != nil:
			n++
		}
	}
	y := newIndex(n)
	for _, l := range x.links {
		if l == nil {
			continue
		}
		if _, changed := delta[l.code()]; !changed {
			y.add(l)
		}
	}
	for _, l := range delta {
		if l != nil {
			y.add(l)
		}
	}
	return y
}
