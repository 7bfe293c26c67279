package redirect

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/qredge/qredge/store"
)

// numShards spreads writers: a change copies at most one shard's delta.
const numShards = 512

// Table maps (host, code) to compiled links. Readers take no lock: each
// shard publishes an immutable snapshot through an atomic pointer, and
// writers (under the shard's mutex) publish a new snapshot. A snapshot is a
// large base index plus a small delta map, so a change copies the delta,
// not the shard; the delta is folded into a new base when it grows past
// about the square root of the base, which keeps both costs low.
//
// Deletes leave a tombstone: the version that deleted the link, kept for
// TombstoneTTL beside the shard (never read by lookups). A put of that
// link at or below the tombstone's version is stale, so a fallback lookup
// or a resync that read Redis before the delete cannot bring the link back
// when its answer arrives after the delete, and a full reload drops such
// links too.
type Table struct {
	shards  [numShards]shard
	count   atomic.Int64
	ready   atomic.Bool
	maxVer  atomic.Uint64 // the highest version loaded or applied
	tombTTL atomic.Int64  // nanoseconds
	tombs   atomic.Int64  // tombstones held
}

// DefaultTombstoneTTL is how long a delete is remembered: far longer than
// any Redis read it must outlast (a fallback lookup, a resync's scan).
const DefaultTombstoneTTL = time.Hour

type shard struct {
	mu        sync.Mutex
	snap      atomic.Pointer[snapshot]
	tombs     map[string]tombstone // under mu: store.LinkKey -> the delete
	lastPrune int64                // under mu: unix nanoseconds
}

// tombstone is a delete the table remembers.
type tombstone struct {
	version uint64
	at      int64 // unix nanoseconds
}

type snapshot struct {
	base  *index
	delta map[string]*Link // a nil *Link is a deletion of a base code
}

// The table holds one *Link per code: the link for every host, or, when
// some links of the code are bound to a domain, a group node (Link.group)
// whose codeLinks hold them all. Most codes have one link, and a pointer
// per code instead of a small object per code saves its bytes.

// codeLinks holds every link with one code when some are bound to a
// domain: the one for every host, and those bound to a domain (few,
// scanned linearly).
type codeLinks struct {
	any     *Link
	domains []*Link
}

var emptySnapshot = &snapshot{base: newIndex(0)}

// NewTable returns an empty table.
func NewTable() *Table {
	t := &Table{}
	for i := range t.shards {
		t.shards[i].snap.Store(emptySnapshot)
	}
	t.tombTTL.Store(int64(DefaultTombstoneTTL))
	return t
}

// SetTombstoneTTL sets how long deletes are remembered (at least a
// second).
func (t *Table) SetTombstoneTTL(d time.Duration) { t.tombTTL.Store(int64(max(d, time.Second))) }

// Tombstones returns the number of deletes the table remembers.
func (t *Table) Tombstones() int { return int(t.tombs.Load()) }

// hashCode is the hash of a code: its shard is hashCode(code)%numShards,
// and the rest picks its slot in the shard's index.
func hashCode(code string) uint64 { return xxhash.Sum64String(code) }

// get returns the link (or group node) for code, whose hash is h, or nil.
func (s *snapshot) get(h uint64, code []byte) *Link {
	if len(s.delta) > 0 {
		if l, ok := s.delta[string(code)]; ok {
			return l
		}
	}
	return s.base.get(h, code)
}

// Lookup returns the link for code on host (a Host header value, with or
// without port), or nil. A link bound to the host's domain wins over one
// for every host. It does not allocate.
func (t *Table) Lookup(host, code []byte) *Link {
	h := xxhash.Sum64(code) // the same as hashCode
	l := t.shards[h%numShards].snap.Load().get(h, code)
	if l != nil && l.group {
		return l.links.lookup(host)
	}
	return l
}

func (g *codeLinks) lookup(host []byte) *Link {
	h := hostname(host)
	for _, l := range g.domains {
		if equalFoldASCII(l.domain(), h) {
			return l
		}
	}
	return g.any
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
func equalFoldASCII(lower string, b []byte) bool {
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

// MaxVersion returns the highest version the table has loaded or applied:
// a store whose version counter is below it has lost changes this table
// has seen.
func (t *Table) MaxVersion() uint64 { return t.maxVer.Load() }

func (t *Table) seenVersion(v uint64) {
	for {
		cur := t.maxVer.Load()
		if v <= cur || t.maxVer.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Apply applies one change from a store's change feed. A change older than
// what the table holds for that link is ignored, so replays are harmless.
func (t *Table) Apply(c store.Change) {
	t.seenVersion(c.Version)
	l := c.Link
	code := l.Code
	h := hashCode(code)
	sh := &t.shards[h%numShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !t.tombstone(sh, l, c) {
		return
	}
	old := sh.snap.Load()
	prev := old.get(h, []byte(code))
	next, delta := withChange(prev, l, c)
	if next == prev {
		return
	}
	t.count.Add(int64(delta))
	if next != nil {
		code = next.code() // the map key shares the link's bytes
	}
	sh.snap.Store(old.with(code, next))
}

// tombstone records a delete in sh's tombstones, or checks a put against
// them: it returns false for a put at or below a remembered delete's
// version. The caller holds sh.mu.
func (t *Table) tombstone(sh *shard, l *store.Link, c store.Change) bool {
	key := store.LinkKey(l.Domain, l.Code)
	now := time.Now().UnixNano()
	switch c.Op {
	case store.OpPut:
		ts, ok := sh.tombs[key]
		if !ok {
			return true
		}
		if c.Version <= ts.version {
			return false
		}
		delete(sh.tombs, key) // re-created later than the delete
		t.tombs.Add(-1)
	case store.OpDelete:
		if ts, ok := sh.tombs[key]; ok {
			ts.version, ts.at = max(ts.version, c.Version), now
			sh.tombs[key] = ts
		} else {
			if sh.tombs == nil {
				sh.tombs = make(map[string]tombstone)
			}
			sh.tombs[key] = tombstone{version: c.Version, at: now}
			t.tombs.Add(1)
		}
		ttl := t.tombTTL.Load()
		if now-sh.lastPrune > ttl/4 {
			sh.lastPrune = now
			for k, ts := range sh.tombs {
				if now-ts.at > ttl {
					delete(sh.tombs, k)
					t.tombs.Add(-1)
				}
			}
		}
	}
	return true
}

// withChange returns what the table holds for the code after applying c to
// what it held, e (e itself if nothing changes), and the change in the
// number of links.
func withChange(e *Link, l *store.Link, c store.Change) (*Link, int) {
	return withCompiled(e, l.Domain, c.Op, c.Version, func() *Link { return Compile(l) })
}

// withCompiled is withChange for the link (domain, e's code) at version,
// compiled by compile when it is put.
func withCompiled(e *Link, domain string, op store.ChangeOp, version uint64, compile func() *Link) (*Link, int) {
	var g codeLinks
	switch {
	case e == nil:
	case e.group:
		g = *e.links
	default:
		g.any = e
	}
	var cur *Link
	idx := -1
	if domain == "" {
		cur = g.any
	} else {
		for i, d := range g.domains {
			if d.domain() == domain {
				cur, idx = d, i
				break
			}
		}
	}
	if cur != nil && cur.version >= version {
		return e, 0 // stale or replayed
	}
	// Readers may hold e: never modify its domains in place.
	g.domains = append([]*Link(nil), g.domains...)
	delta := 0
	switch op {
	case store.OpPut:
		cl := compile()
		if domain == "" {
			g.any = cl
		} else if idx >= 0 {
			g.domains[idx] = cl
		} else {
			g.domains = append(g.domains, cl)
		}
		if cur == nil {
			delta = 1
		}
	case store.OpDelete:
		if cur == nil {
			return e, 0
		}
		if domain == "" {
			g.any = nil
		} else {
			g.domains = append(g.domains[:idx], g.domains[idx+1:]...)
		}
		delta = -1
	default:
		panic("BUG: unknown change op")
	}
	return g.node(), delta
}

// node returns what the table holds for a code with the links of g: nil,
// the one link for every host, or a group node.
func (g codeLinks) node() *Link {
	if len(g.domains) == 0 {
		return g.any
	}
	code := g.domains[0].code()
	return &Link{s: code, keyLen: uint16(len(code)), codeLen: uint16(len(code)), destEnd: uint16(len(code)), group: true, linkExt: &linkExt{links: &g}}
}

// with returns a snapshot with code set to l (nil deletes it).
func (s *snapshot) with(code string, l *Link) *snapshot {
	delta := make(map[string]*Link, len(s.delta)+1)
	for k, v := range s.delta {
		delta[k] = v
	}
	if l == nil && s.base.get(hashCode(code), []byte(code)) == nil {
		delete(delta, code) // it was only ever in the delta
	} else {
		delta[code] = l
	}
	if len(delta) <= 32+isqrt(s.base.n) {
		return &snapshot{base: s.base, delta: delta}
	}
	return &snapshot{base: s.base.merged(delta)}
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
	lists  [numShards][]*Link // compiled links by shard, merged at Swap
	n      int
	maxVer uint64
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{}
}

// Add adds a link. For a (domain, code) added twice the higher version wins.
func (b *Builder) Add(l *store.Link) {
	b.AddCompiled([]*Link{Compile(l)})
}

// Len returns the number of links added (a link added twice counts
// twice).
func (b *Builder) Len() int { return b.n }

// Swap replaces the whole content of t with what b collected and marks t
// ready. b must not be used afterwards.
func (t *Table) Swap(b *Builder) {
	t.swap(b)
	t.ready.Store(true)
}

// SetReady marks the table ready: a table loaded from a snapshot is, once
// the changes since the snapshot are applied.
func (t *Table) SetReady() { t.ready.Store(true) }

// swap is Swap without marking the table ready.
func (t *Table) swap(b *Builder) {
	var count atomic.Int64
	parallelShards(func(i int) {
		sh := &t.shards[i]
		sh.mu.Lock()
		defer sh.mu.Unlock()
		list := b.lists[i]
		b.lists[i] = nil
		if len(sh.tombs) > 0 {
			list = withoutTombstoned(list, sh.tombs)
		}
		x := newIndex(len(list))
		d := 0
		for _, l := range list {
			d += x.put(l)
		}
		count.Add(int64(d))
		sh.snap.Store(&snapshot{base: x})
	})
	t.count.Store(count.Load())
	t.seenVersion(b.maxVer)
}

// withoutTombstoned drops the links a tombstone covers: the load read them
// before a delete the table has seen since.
func withoutTombstoned(list []*Link, tombs map[string]tombstone) []*Link {
	out := list[:0:0]
	for _, l := range list {
		if ts, ok := tombs[l.key()]; ok && l.version <= ts.version {
			continue
		}
		out = append(out, l)
	}
	return out
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
	if l := t.find(domain, code); l != nil {
		return l.version, true
	}
	return 0, false
}

// Tags returns the tags of the link (domain, code) in the table, nil when
// it has none or is not there: what webhooks filtered by tag need of a
// scan.
func (t *Table) Tags(domain, code string) []string {
	if l := t.find(domain, code); l != nil {
		return store.ExtrasTags(l.extras())
	}
	return nil
}

// find returns the link (domain, code) exactly (a link on every host for
// an empty domain), or nil.
func (t *Table) find(domain, code string) *Link {
	h := hashCode(code)
	l := t.shards[h%numShards].snap.Load().get(h, []byte(code))
	switch {
	case l == nil:
		return nil
	case !l.group:
		if domain != "" {
			return nil
		}
		return l
	case domain == "":
		return l.links.any
	}
	for _, d := range l.links.domains {
		if d.domain() == domain {
			return d
		}
	}
	return nil
}

// Each calls fn for every link in the table, shard by shard, from
// consistent per-shard snapshots.
func (t *Table) Each(fn func(domain, code string, version uint64)) {
	t.EachLink(func(l *Link) error {
		fn(l.domain(), l.code(), l.version)
		return nil
	})
}

// EachLink calls fn for every link in the table (the links of a group
// node, not the node), shard by shard, from consistent per-shard
// snapshots, and stops at fn's first error.
func (t *Table) EachLink(fn func(*Link) error) error {
	visit := func(l *Link) error {
		switch {
		case l == nil:
		case l.group:
			if l.links.any != nil {
				if err := fn(l.links.any); err != nil {
					return err
				}
			}
			for _, d := range l.links.domains {
				if err := fn(d); err != nil {
					return err
				}
			}
		default:
			return fn(l)
		}
		return nil
	}
	for i := range t.shards {
		s := t.shards[i].snap.Load()
		for _, l := range s.base.links {
			if l == nil {
				continue
			}
			if _, changed := s.delta[l.code()]; !changed {
				if err := visit(l); err != nil {
					return err
				}
			}
		}
		for _, l := range s.delta {
			if err := visit(l); err != nil {
				return err
			}
		}
	}
	return nil
}
