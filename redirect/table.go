package redirect

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/qredge/qredge/store"
)

// numShards spreads writers: a change copies at most one shard's delta.
const numShards = 512

// Table maps (host, code) to compiled links. Readers take no lock: each
// shard publishes an immutable snapshot through an atomic pointer, and
// writers (under the shard's mutex) publish a new snapshot. A snapshot is a
// large base map plus a small delta map, so a change copies the delta, not
// the shard; the delta is folded into the base when it grows past about the
// square root of the base, which keeps both costs low.
type Table struct {
	shards [numShards]shard
	count  atomic.Int64
	ready  atomic.Bool
}

type shard struct {
	mu   sync.Mutex
	snap atomic.Pointer[snapshot]
}

type snapshot struct {
	base  map[string]*entry
	delta map[string]*entry // a nil *entry is a deletion of a base key
}

// entry holds every link with one code: the one for every host, and those
// bound to a domain (few, scanned linearly).
type entry struct {
	any     *Link
	domains []*Link
}

var emptySnapshot = &snapshot{base: map[string]*entry{}}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{}
	for i := range t.shards {
		t.shards[i].snap.Store(emptySnapshot)
	}
	return t
}

func shardIndex(code []byte) uint64 {
	return xxhash.Sum64(code) % numShards
}

func (s *snapshot) get(code []byte) *entry {
	if len(s.delta) > 0 {
		if e, ok := s.delta[string(code)]; ok {
			return e
		}
	}
	return s.base[string(code)]
}

// Lookup returns the link for code on host (a Host header value, with or
// without port), or nil. A link bound to the host's domain wins over one
// for every host. It does not allocate.
func (t *Table) Lookup(host, code []byte) *Link {
	e := t.shards[shardIndex(code)].snap.Load().get(code)
	if e == nil {
		return nil
	}
	if len(e.domains) > 0 {
		h := hostname(host)
		for _, l := range e.domains {
			if equalFoldASCII(l.domain, h) {
				return l
			}
		}
	}
	return e.any
}

// hostname strips the port and a trailing dot from a Host header value.
func hostname(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		return host // IPv6 literal: never a configured domain
	}
	for i, c := range host {
		if c == ':' {
			host = host[:i]
			break
		}
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	return host
}

// equalFoldASCII compares a lower-case domain with a host of any case.
func equalFoldASCII(lower, b []byte) bool {
	if len(lower) != len(b) {
		return false
	}
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Len returns the number of links in the table.
func (t *Table) Len() int { return int(t.count.Load()) }

// Ready reports whether the table has been fully loaded once.
func (t *Table) Ready() bool { return t.ready.Load() }

// Apply applies one change from a store's change feed. A change older than
// what the table holds for that link is ignored, so replays are harmless.
func (t *Table) Apply(c store.Change) {
	l := c.Link
	code := l.Code
	sh := &t.shards[shardIndex([]byte(code))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.snap.Load()
	prev := old.get([]byte(code))
	next, delta := withChange(prev, l, c)
	if next == prev {
		return
	}
	t.count.Add(int64(delta))
	sh.snap.Store(old.with(code, next))
}

// withChange returns the entry that results from applying c to e (e itself
// if nothing changes) and the change in the number of links.
func withChange(e *entry, l *store.Link, c store.Change) (*entry, int) {
	var cur *Link
	idx := -1
	if e != nil {
		if l.Domain == "" {
			cur = e.any
		} else {
			for i, d := range e.domains {
				if string(d.domain) == l.Domain {
					cur, idx = d, i
					break
				}
			}
		}
	}
	if cur != nil && cur.version >= c.Version {
		return e, 0 // stale or replayed
	}
	n := &entry{}
	if e != nil {
		n.any = e.any
		n.domains = append([]*Link(nil), e.domains...)
	}
	delta := 0
	switch c.Op {
	case store.OpPut:
		cl := Compile(l)
		if l.Domain == "" {
			n.any = cl
		} else if idx >= 0 {
			n.domains[idx] = cl
		} else {
			n.domains = append(n.domains, cl)
		}
		if cur == nil {
			delta = 1
		}
	case store.OpDelete:
		if cur == nil {
			return e, 0
		}
		if l.Domain == "" {
			n.any = nil
		} else {
			n.domains = append(n.domains[:idx], n.domains[idx+1:]...)
		}
		delta = -1
	default:
		panic("BUG: unknown change op")
	}
	if n.any == nil && len(n.domains) == 0 {
		n = nil
	}
	return n, delta
}

// with returns a snapshot with code set to e (nil deletes it).
func (s *snapshot) with(code string, e *entry) *snapshot {
	maxDelta := 32 + isqrt(len(s.base))
	if len(s.delta) < maxDelta {
		delta := make(map[string]*entry, len(s.delta)+1)
		for k, v := range s.delta {
			delta[k] = v
		}
		if e == nil {
			if _, inBase := s.base[code]; !inBase {
				delete(delta, code)
				return &snapshot{base: s.base, delta: delta}
			}
		}
		delta[code] = e
		return &snapshot{base: s.base, delta: delta}
	}
	// Fold the delta into a new base.
	base := make(map[string]*entry, len(s.base)+len(s.delta)+1)
	for k, v := range s.base {
		base[k] = v
	}
	for k, v := range s.delta {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	if e == nil {
		delete(base, code)
	} else {
		base[code] = e
	}
	return &snapshot{base: base}
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// Builder collects links for a full (re)load of a table without publishing
// anything until Swap.
type Builder struct {
	maps  [numShards]map[string]*entry
	count int
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{}
}

// Add adds a link. For a (domain, code) added twice the higher version wins.
func (b *Builder) Add(l *store.Link) {
	i := shardIndex([]byte(l.Code))
	if b.maps[i] == nil {
		b.maps[i] = make(map[string]*entry)
	}
	e := b.maps[i][l.Code]
	n, delta := withChange(e, l, store.Change{Op: store.OpPut, Link: l, Version: l.Version})
	if n != e {
		b.maps[i][l.Code] = n
		b.count += delta
	}
}

// Len returns the number of links added.
func (b *Builder) Len() int { return b.count }

// Swap replaces the whole content of t with what b collected and marks t
// ready. b must not be used afterwards.
func (t *Table) Swap(b *Builder) {
	for i := range t.shards {
		sh := &t.shards[i]
		m := b.maps[i]
		if m == nil {
			m = map[string]*entry{}
		}
		sh.mu.Lock()
		sh.snap.Store(&snapshot{base: m})
		sh.mu.Unlock()
	}
	t.count.Store(int64(b.count))
	t.ready.Store(true)
}

// Load replaces the whole content of t with the links fill adds, and marks
// t ready. Nothing is published until fill returns without error.
func (t *Table) Load(fill func(add func(*store.Link)) error) error {
	b := NewBuilder()
	if err := fill(b.Add); err != nil {
		return err
	}
	t.Swap(b)
	return nil
}

// VersionOf returns the version of the link (domain, code) in the table.
func (t *Table) VersionOf(domain, code string) (uint64, bool) {
	e := t.shards[shardIndex([]byte(code))].snap.Load().get([]byte(code))
	if e == nil {
		return 0, false
	}
	if domain == "" {
		if e.any == nil {
			return 0, false
		}
		return e.any.version, true
	}
	for _, l := range e.domains {
		if string(l.domain) == domain {
			return l.version, true
		}
	}
	return 0, false
}

// Each calls fn for every link in the table, shard by shard, from
// consistent per-shard snapshots.
func (t *Table) Each(fn func(domain, code string, version uint64)) {
	for i := range t.shards {
		s := t.shards[i].snap.Load()
		visit := func(code string, e *entry) {
			if e == nil {
				return
			}
			if e.any != nil {
				fn("", code, e.any.version)
			}
			for _, l := range e.domains {
				fn(string(l.domain), code, l.version)
			}
		}
		for code, e := range s.base {
			if d, overridden := s.delta[code]; overridden {
				visit(code, d)
				continue
			}
			visit(code, e)
		}
		for code, e := range s.delta {
			if _, inBase := s.base[code]; !inBase {
				visit(code, e)
			}
		}
	}
}
