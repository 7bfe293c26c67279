package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// The page walk below reads the bbolt file through ReadAt, never through
// bbolt's memory map, and checks every page number and offset before it
// follows it. bbolt trusts its file: a damaged page sends it to addresses
// outside the file (a fault, which no recover catches) or into its own
// assertions (a panic). So the walk runs before bbolt opens the file, and
// tells which top-level bucket each damaged page belongs to.
//
// The on-disk format is bbolt's (version 2, little-endian on every
// platform qredge builds for): a 16-byte page header (id, flags, count,
// overflow), then 16-byte elements, then keys and values; meta pages 0
// and 1 point at the root bucket and the freelist.

const (
	pageHeaderSize   = 16
	elementSize      = 16
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagMeta         = 0x04
	flagFreelist     = 0x10
	leafBucketFlag   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64
	maxProblemsShown = 20
)

// Problem is one piece of damage Check found.
type Problem struct {
	// Bucket is the top-level bucket whose pages are damaged, or "" for
	// the file's own structures: the meta pages, the freelist and the
	// directory of buckets.
	Bucket string
	Detail string
}

func (p Problem) String() string {
	if p.Bucket == "" {
		return p.Detail
	}
	return fmt.Sprintf("bucket %q: %s", p.Bucket, p.Detail)
}

// BucketInfo is one top-level bucket as Check found it.
type BucketInfo struct {
	Name  string
	Root  uint64 // its root page; 0 for a bucket stored inline in the directory
	Keys  int    // keys read (those before the damage, in a damaged bucket)
	Pages int    // pages of its own (inline buckets have none)
}

// Report is what Check found in a database file.
type Report struct {
	Path      string
	Size      int64
	PageSize  int
	HighWater uint64 // pages in use or free, from the meta page
	TxID      uint64
	Buckets   []BucketInfo
	Problems  []Problem
	// Leaked is the pages that are neither used nor free: space lost,
	// no data at risk.
	Leaked int
	// Empty is set for a file of 0 bytes.
	Empty bool
	Took  time.Duration
}

// Healthy reports whether Check found no damage.
func (r *Report) Healthy() bool { return len(r.Problems) == 0 && !r.Empty }

// DamagedBuckets returns the top-level buckets with damage, and whether
// the file's own structures are damaged.
func (r *Report) DamagedBuckets() (buckets []string, file bool) {
	seen := map[string]bool{}
	for _, p := range r.Problems {
		if p.Bucket == "" {
			file = true
		} else if !seen[p.Bucket] {
			seen[p.Bucket] = true
			buckets = append(buckets, p.Bucket)
		}
	}
	sort.Strings(buckets)
	return buckets, file || r.Empty
}

// Summary is the problems in a few lines.
func (r *Report) Summary() string {
	if r.Empty {
		return "the file is empty (0 bytes): it holds no database"
	}
	var b bytes.Buffer
	for i, p := range r.Problems {
		if i == maxProblemsShown {
			fmt.Fprintf(&b, "; and %d more", len(r.Problems)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Check reads the database file at path page by page and reports its
// damage. It never opens the file with bbolt, so it is safe on any file,
// but the file must not be written meanwhile (the caller holds bbolt's
// lock, or the file is a stopped server's).
func Check(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	start := time.Now()
	r, err := checkOpen(f)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	r.Path, r.Took = path, time.Since(start)
	return r, nil
}

func checkOpen(f *os.File) (*Report, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := &Report{Size: fi.Size()}
	if r.Size == 0 {
		r.Empty = true
		return r, nil
	}
	w := &walker{f: f, r: r}
	if err := w.run(); err != nil {
		return nil, err
	}
	return r, nil
}

type walker struct {
	f   *os.File
	r   *Report
	ps  uint64
	hwm uint64
	// owners[page] is 1 + the index in names of the top-level bucket that
	// uses the page ("" for the directory and the freelist), 0 if unseen.
	owners []uint32
	names  []string
	bufs   [][]byte
}

// errDamaged stops the walk of one tree; the problem is already recorded.
var errDamaged = errors.New("damaged")

func (w *walker) problem(bucket, format string, args ...any) error {
	w.r.Problems = append(w.r.Problems, Problem{Bucket: bucket, Detail: fmt.Sprintf(format, args...)})
	return errDamaged
}

type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// readMeta reads the meta page at off; ok is false when it fails its
// checks.
func (w *walker) readMeta(off int64) (meta, bool, error) {
	var buf [pageHeaderSize + 64]byte
	n, err := w.f.ReadAt(buf[:], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return meta{}, false, err
	}
	if n < len(buf) {
		return meta{}, false, nil
	}
	b := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint16(buf[8:]) != flagMeta || le.Uint32(b) != boltMagic || le.Uint32(b[4:]) != boltVersion {
		return meta{}, false, nil
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return meta{}, false, nil
	}
	m := meta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	return m, m.pageSize >= 512 && m.pageSize <= 1<<20 && m.pageSize&(m.pageSize-1) == 0, nil
}

func (w *walker) run() error {
	m0, ok0, err := w.readMeta(0)
	if err != nil {
		return err
	}
	// The second meta page is one page in; its size comes from the
	// first, or is tried as bbolt does when the first is damaged.
	var m1 meta
	var ok1 bool
	for ps := int64(1024); ps <= 1<<16 && !ok1; ps <<= 1 {
		if ok0 && ps != int64(m0.pageSize) {
			continue
		}
		if m1, ok1, err = w.readMeta(ps); err != nil {
			return err
		}
	}
	var m meta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		w.problem("", "both meta pages are damaged (or this is not a bbolt file)")
		return nil
	}
	w.ps, w.hwm = uint64(m.pageSize), m.pgid
	w.r.PageSize, w.r.HighWater, w.r.TxID = int(m.pageSize), m.pgid, m.txid
	if need := int64(m.pgid * w.ps); need > w.r.Size || m.pgid < 3 {
		w.problem("", "the file is %d bytes but its pages reach to byte %d: it was cut short (truncated)", w.r.Size, need)
		return nil
	}
	w.owners = make([]uint32, m.pgid)
	w.setOwner(0, "")
	w.setOwner(1, "")
	if err := w.walkDirectory(m.root); err != nil && !errors.Is(err, errDamaged) {
		return err
	}
	if err := w.checkFreelist(m.freelist); err != nil && !errors.Is(err, errDamaged) {
		return err
	}
	return nil
}

// readPage reads page id with its overflow pages, checked against the
// high-water mark and its own header.
func (w *walker) readPage(id uint64, bucket string, depth int) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, w.problem(bucket, "a page number %d is out of range (the file has %d pages)", id, w.hwm)
	}
	// One buffer per tree level: a branch page's keys are used while its
	// children are read.
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, make([]byte, w.ps))
	}
	buf := w.bufs[depth][:w.ps]
	if _, err := w.f.ReadAt(buf, int64(id*w.ps)); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if got := le.Uint64(buf); got != id {
		return nil, w.problem(bucket, "page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(le.Uint32(buf[12:]))
	if id+overflow >= w.hwm {
		return nil, w.problem(bucket, "page %d runs past the end of the file (%d overflow pages)", id, overflow)
	}
	for i := uint64(0); i <= overflow; i++ {
		if prev, ok := w.ownerOf(id + i); ok {
			return nil, w.problem(bucket, "page %d is used twice (also by %s)", id+i, ownerName(prev))
		}
		w.setOwner(id+i, bucket)
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, overflow*w.ps)...)
		if _, err := w.f.ReadAt(buf[w.ps:], int64((id+1)*w.ps)); err != nil {
			return nil, err
		}
		w.bufs[depth] = buf
	}
	return buf, nil
}

// ownerOf returns the top-level bucket of a page seen already.
func (w *walker) ownerOf(id uint64) (string, bool) {
	i := w.owners[id]
	if i == 0 {
		return "", false
	}
	return w.names[i-1], true
}

func (w *walker) setOwner(id uint64, bucket string) {
	if len(w.names) == 0 || w.names[len(w.names)-1] != bucket {
		w.names = append(w.names, bucket)
	}
	w.owners[id] = uint32(len(w.names))
}

func ownerName(b string) string {
	if b == "" {
		return "the bucket directory or the freelist"
	}
	return fmt.Sprintf("bucket %q", b)
}

// elements parses the elements of a branch or leaf page held in p (a page
// read from the file, or an inline bucket's page), checking that every key
// and value lies inside p and that the keys ascend within [lo, hi).
func (w *walker) elements(p []byte, id uint64, bucket string, lo, hi []byte, fn func(flags uint32, k, v []byte, child uint64) error) error {
	le := binary.LittleEndian
	if len(p) < pageHeaderSize {
		return w.problem(bucket, "page %d is cut short", id)
	}
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if flags != flagBranch && flags != flagLeaf {
		return w.problem(bucket, "page %d has type %#x, want a branch or leaf page", id, flags)
	}
	if pageHeaderSize+count*elementSize > len(p) {
		return w.problem(bucket, "page %d claims %d elements, more than it holds", id, count)
	}
	var prev []byte
	for i := range count {
		e := p[pageHeaderSize+i*elementSize:]
		off := pageHeaderSize + i*elementSize
		pos, ksize := uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:]))
		var eflags uint32
		var vsize, child uint64
		if flags == flagBranch {
			pos, ksize, child = uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
		} else {
			eflags, vsize = le.Uint32(e), uint64(le.Uint32(e[12:]))
		}
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(p)) {
			return w.problem(bucket, "page %d: element %d points outside the page", id, i)
		}
		k, v := p[start:start+ksize], p[start+ksize:start+ksize+vsize]
		switch {
		case prev != nil && bytes.Compare(prev, k) >= 0:
			return w.problem(bucket, "page %d: keys out of order at element %d", id, i)
		case prev == nil && lo != nil && bytes.Compare(k, lo) < 0,
			hi != nil && bytes.Compare(k, hi) >= 0:
			return w.problem(bucket, "page %d: key %d outside the range its parent page gives", id, i)
		}
		prev = k
		if err := fn(eflags, k, v, child); err != nil {
			return err
		}
	}
	return nil
}

// walkTree walks the b+tree at root (a page, or inline when root is 0
// and inline holds the page) and calls leaf for each key.
func (w *walker) walkTree(root uint64, inline []byte, bucket string, depth int, lo, hi []byte, leaf func(flags uint32, k, v []byte) error) error {
	if depth > maxTreeDepth {
		return w.problem(bucket, "the tree is more than %d levels deep (a loop of pages)", maxTreeDepth)
	}
	p, id := inline, root
	if inline == nil {
		var err error
		if p, err = w.readPage(root, bucket, depth); err != nil {
			return err
		}
	} else if binary.LittleEndian.Uint16(p[8:]) != flagLeaf {
		return w.problem(bucket, "inline bucket page is not a leaf page")
	}
	if bucket != "" && inline == nil {
		w.r.Buckets[len(w.r.Buckets)-1].Pages += 1 + int(binary.LittleEndian.Uint32(p[12:]))
	}
	branch := binary.LittleEndian.Uint16(p[8:]) == flagBranch
	type kid struct {
		id  uint64
		key []byte
	}
	var kids []kid
	err := w.elements(p, id, bucket, lo, hi, func(flags uint32, k, v []byte, child uint64) error {
		if branch {
			kids = append(kids, kid{child, k})
			return nil
		}
		return leaf(flags, k, v)
	})
	if err != nil {
		return err
	}
	for i, c := range kids {
		next := hi
		if i+1 < len(kids) {
			next = kids[i+1].key
		}
		if err := w.walkTree(c.id, nil, bucket, depth+1, c.key, next, leaf); err != nil {
			return err
		}
	}
	return nil
}

// walkDirectory walks the root bucket, whose keys are the top-level
// buckets, and each of them.
func (w *walker) walkDirectory(root uint64) error {
	type top struct {
		name       string
		root       uint64
		inline     []byte
		notABucket bool
	}
	var tops []top
	err := w.walkTree(root, nil, "", 0, nil, nil, func(flags uint32, k, v []byte) error {
		t := top{name: string(k), notABucket: flags&leafBucketFlag == 0}
		if !t.notABucket {
			if len(v) < 16 {
				return w.problem("", "the entry of bucket %q is cut short", k)
			}
			t.root = binary.LittleEndian.Uint64(v)
			if t.root == 0 {
				t.inline = bytes.Clone(v[16:])
			}
		}
		tops = append(tops, t)
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range tops {
		if t.notABucket {
			w.problem("", "the bucket directory holds a key %q that is not a bucket", t.name)
			continue
		}
		w.r.Buckets = append(w.r.Buckets, BucketInfo{Name: t.name, Root: t.root})
		if err := w.walkBucket(t.name, t.root, t.inline, 0); err != nil && !errors.Is(err, errDamaged) {
			return err
		}
	}
	return nil
}

// walkBucket walks one bucket and the buckets nested in it, counting the
// keys into the top-level bucket's info.
func (w *walker) walkBucket(top string, root uint64, inline []byte, depth int) error {
	if depth > maxTreeDepth {
		return w.problem(top, "buckets nested more than %d deep", maxTreeDepth)
	}
	if root == 0 && len(inline) < pageHeaderSize {
		return w.problem(top, "an inline bucket is cut short")
	}
	info := &w.r.Buckets[len(w.r.Buckets)-1]
	type nested struct {
		root   uint64
		inline []byte
	}
	var kids []nested
	err := w.walkTree(root, inline, top, 0, nil, nil, func(flags uint32, k, v []byte) error {
		if flags&leafBucketFlag == 0 {
			info.Keys++
			return nil
		}
		if len(v) < 16 {
			return w.problem(top, "a nested bucket's entry is cut short")
		}
		n := nested{root: binary.LittleEndian.Uint64(v)}
		if n.root == 0 {
			n.inline = bytes.Clone(v[16:])
		}
		kids = append(kids, n)
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range kids {
		if err := w.walkBucket(top, n.root, n.inline, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkFreelist reads the freelist and checks that no page in use is
// listed as free (a later write would overwrite it), then counts the
// pages neither used nor free.
func (w *walker) checkFreelist(id uint64) error {
	if id == noFreelist {
		return nil // not synced: bbolt rebuilds it at open
	}
	p, err := w.readPage(id, "", 0)
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	if le.Uint16(p[8:]) != flagFreelist {
		return w.problem("", "the freelist page %d has type %#x", id, le.Uint16(p[8:]))
	}
	count, start := uint64(le.Uint16(p[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count, start = le.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > (uint64(len(p))-start)/8 {
		return w.problem("", "the freelist claims %d pages, more than its page holds", count)
	}
	free := make(map[uint64]bool, count)
	for i := range count {
		pg := le.Uint64(p[start+i*8:])
		if pg < 2 || pg >= w.hwm {
			return w.problem("", "the freelist lists page %d, out of range", pg)
		}
		switch owner, used := w.ownerOf(pg); {
		case free[pg]:
			return w.problem("", "the freelist lists page %d twice", pg)
		case used:
			w.problem(owner, "page %d is in use and also listed as free: a later write would overwrite it", pg)
		}
		free[pg] = true
	}
	if len(w.r.Problems) > 0 {
		return nil // damaged trees leave pages unreachable: not a leak
	}
	for pg := uint64(2); pg < w.hwm; pg++ {
		if _, used := w.ownerOf(pg); !used && !free[pg] {
			w.r.Leaked++
		}
	}
	return nil
}

// guard runs fn and turns a panic or a memory fault inside it (bbolt on a
// damaged page) into an error. It is for reads of data that may be
// damaged; the fault becomes recoverable only in the calling goroutine.
func guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if rec := recover(); rec != nil {
			err = &PanicError{What: what, Value: rec}
		}
	}()
	return fn()
}

// PanicError is a panic or memory fault of bbolt on a damaged page,
// turned into an error by guard.
type PanicError struct {
	What  string
	Value any
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("the database file is damaged (%s failed: %v)", e.What, e.Value)
}

// LogAtStart logs what the check at start found (the file's size and the
// check's time; pages lost) and returns the damage it found in buckets
// that are not the store's own (the store refuses to open with those
// damaged): the stats', for the embedded aggregator to turn stats off.
func (r *Report) LogAtStart(log *slog.Logger) (statsDamage error) {
	if r.Size > 0 {
		log.Info("database checked", "path", r.Path, "bytes", r.Size, "duration", r.Took.Round(time.Millisecond))
	}
	if r.Leaked > 0 {
		log.Warn("the database has pages neither used nor free (space lost, no data at risk); 'qredge backup' writes a copy without them", "pages", r.Leaked)
	}
	if buckets, _ := r.DamagedBuckets(); len(buckets) > 0 {
		return fmt.Errorf("the check at start found damage in %s: %s", strings.Join(buckets, ", "), r.Summary())
	}
	return nil
}
