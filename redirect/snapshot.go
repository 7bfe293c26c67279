package redirect

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/qredge/qredge/store"
	snap "github.com/qredge/qredge/store/snapshot"
)

// AppendBinary appends the link's binary form, the same bytes as
// store.AppendLinkBinary of l.Stored(), without decoding its extras. A
// group node appends nothing.
func (l *Link) AppendBinary(dst []byte) []byte {
	if l.group {
		return dst
	}
	dst = store.AppendLinkHead(dst, l.version, l.code(), l.domain(), l.s[l.keyLen:l.destEnd])
	return append(dst, l.extras()...)
}

// Snapshot returns a snapshot of every link in the table. The caller gives
// the dataset and the change-stream position the table had applied
// before this call: changes applied during it are in the snapshot or
// not, and a reader that applies the stream from position ends with the
// same links either way.
func (t *Table) Snapshot(dataset, position string, chunkLinks int) (snap.Meta, [][]byte) {
	b := snap.NewBuilder(dataset, position, chunkLinks)
	var buf []byte
	t.EachLink(func(l *Link) error {
		buf = l.AppendBinary(buf[:0])
		b.AddBinary(buf, l.version)
		return nil
	})
	return b.Finish()
}

// AddAll adds links to the builder (a snapshot's decoded chunk).
func (b *Builder) AddAll(links []*store.Link) {
	for _, l := range links {
		b.Add(l)
	}
}

// CompileBinary compiles a link from its binary form
// (store.AppendLinkBinary). A plain link (most of them) is built straight
// from the bytes, without a store.Link in between; the others are decoded
// and compiled.
func CompileBinary(b []byte) (*Link, error) {
	p, err := store.ParsePlainBinary(b)
	if err != nil {
		return nil, err
	}
	if !p.Plain {
		l, err := store.DecodeLinkBinary(b)
		if err != nil {
			return nil, err
		}
		return Compile(l), nil
	}
	keyLen := len(p.Code) + 1 + len(p.Domain)
	if keyLen+len(p.Destination) > math.MaxUint16 {
		return nil, fmt.Errorf("%w: link %q too long", store.ErrBadLinkBinary, p.Code)
	}
	buf := make([]byte, 0, keyLen+len(p.Destination)+len(p.Extras))
	buf = append(append(buf, p.Code...), 0)
	buf = append(append(append(buf, p.Domain...), p.Destination...), p.Extras...)
	c := &Link{
		s:       unsafe.String(unsafe.SliceData(buf), len(buf)), // buf is not written again
		keyLen:  uint16(keyLen),
		codeLen: uint16(len(p.Code)),
		destEnd: uint16(keyLen + len(p.Destination)),
		version: p.Version,
		status:  int16(p.Status),
		plain:   true,
	}
	if c.status == 0 {
		c.status = store.DefaultStatus
	}
	return c, nil
}

// AddCompiled adds compiled links (each (domain, code) at most once per
// call of Swap is the fast case; more are merged like Add's).
func (b *Builder) AddCompiled(links []*Link) {
	for _, l := range links {
		i := hashCode(l.code()) % numShards
		b.lists[i] = append(b.lists[i], l)
		b.maxVer = max(b.maxVer, l.version)
		b.n++
	}
}

// LoadSnapshot replaces the table's content with a snapshot's links,
// decoded and compiled on every core. It does not mark the table ready:
// the caller does (SetReady) once the changes made since the snapshot
// are applied, or when it serves the snapshot as it is. Nothing
// is published when a chunk fails, or when the snapshot holds another
// number of links than want (unless want is negative). progress, when not
// nil, gets the number of links of each chunk added. It returns the
// number of links loaded.
func (t *Table) LoadSnapshot(chunk func(i int) ([]byte, error), chunks, want int, progress func(int)) (int, error) {
	// The load allocates what the table keeps: collecting garbage during
	// it would mark the growing table again and again for little to free.
	// A memory limit (GOMEMLIMIT) still makes the collector run.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b := NewBuilder()
	n := 0
	err := snap.DecodeFunc(chunk, chunks, 0, CompileBinary, func(ls []*Link) {
		b.AddCompiled(ls)
		n += len(ls)
		if progress != nil {
			progress(len(ls))
		}
	})
	if err != nil {
		return 0, err
	}
	if want >= 0 && n != want {
		return 0, fmt.Errorf("%w: %d links, its meta says %d", snap.ErrDamaged, n, want)
	}
	t.swap(b)
	return n, nil
}

// parallelShards runs fn for every shard index on up to GOMAXPROCS
// goroutines.
func parallelShards(fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	next := make(chan int, numShards)
	for i := range numShards {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// LoadStored fills an empty table from a store's links in their binary
// form: load calls batch with batches of keys and records, from as many
// goroutines as it likes. Each batch is compiled on its caller's
// goroutine, the builder takes them in turn, and Swap indexes the shards
// in parallel. No garbage collection during the load, as for a snapshot.
// The table is marked ready.
func (t *Table) LoadStored(load func(batch func(keys, recs [][]byte) error) error) error {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b := NewBuilder()
	var mu sync.Mutex
	err := load(func(keys, recs [][]byte) error {
		links := make([]*Link, len(recs))
		for i, rec := range recs {
			l, err := CompileBinary(rec)
			if err != nil {
				return fmt.Errorf("cannot decode stored link %q: %w", keys[i], err)
			}
			links[i] = l
		}
		mu.Lock()
		b.AddCompiled(links)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	t.Swap(b)
	return nil
}
