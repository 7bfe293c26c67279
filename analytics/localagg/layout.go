package localagg

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"
	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

// The buckets of the aggregator in the bbolt file. Keys of stats and uniq
// are bucketKey: granularity letter, bucket start, link key, so the
// buckets of one granularity and time range are one cursor range.
var (
	bucketStats = []byte("stats")    // bucketKey -> counters (encodeCounts)
	bucketUniq  = []byte("uniq")     // bucketKey -> visitor sketches (encodeSketches)
	bucketPos   = []byte("statspos") // keyPos -> position
	keyPos      = []byte("pos")
)

// position is how far the spool was applied: every record of segments
// before Seq, and of segment Seq before byte Off.
type position struct {
	Seq uint64
	Off int64
}

func (p position) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, p.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(p.Off))
	return b
}

func decodePosition(b []byte) (position, error) {
	if len(b) != 16 {
		return position{}, fmt.Errorf("stored spool position has %d bytes, want 16", len(b))
	}
	return position{Seq: binary.BigEndian.Uint64(b), Off: int64(binary.BigEndian.Uint64(b[8:]))}, nil
}

// bucketPrefix is the start of the keys of granularity g's buckets that
// start at start. The start is stored with its sign bit flipped, so that
// keys sort by time also before 1970.
func bucketPrefix(dst []byte, g store.Granularity, start int64) []byte {
	dst = append(dst, g.Letter())
	return binary.BigEndian.AppendUint64(dst, uint64(start)^(1<<63))
}

const prefixLen = 9

func bucketKey(g store.Granularity, start int64, link string) []byte {
	return append(bucketPrefix(make([]byte, 0, prefixLen+len(link)), g, start), link...)
}

// Counters are stored as a version byte, the human and bot scan counts
// (so that a top query reads two varints, not the whole map), then the
// other fields sorted by name, each as a length-prefixed name and a count.
const countsVersion = 1

func encodeCounts(m map[string]int64) []byte {
	fields := make([]string, 0, len(m))
	size := 1 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen32
	for f := range m {
		if f != "h" && f != "b" {
			fields = append(fields, f)
			size += len(f) + 1 + binary.MaxVarintLen64
		}
	}
	slices.Sort(fields)
	b := make([]byte, 0, size)
	b = append(b, countsVersion)
	b = binary.AppendUvarint(b, uint64(m["h"]))
	b = binary.AppendUvarint(b, uint64(m["b"]))
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
		b = binary.AppendUvarint(b, uint64(m[f]))
	}
	return b
}

var errBadCounts = errors.New("damaged counters")

// decodeTotals returns the human and bot scans of encoded counters, and
// the rest of the encoding.
func decodeTotals(b []byte) (h, bot int64, rest []byte, err error) {
	if len(b) == 0 || b[0] != countsVersion {
		return 0, 0, nil, errBadCounts
	}
	b = b[1:]
	var v [2]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 || x > 1<<62 {
			return 0, 0, nil, errBadCounts
		}
		v[i], b = x, b[n:]
	}
	return int64(v[0]), int64(v[1]), b, nil
}

// decodeCounts adds encoded counters to m (made when nil) and returns it.
func decodeCounts(b []byte, m map[string]int64) (map[string]int64, error) {
	h, bot, b, err := decodeTotals(b)
	if err != nil {
		return nil, err
	}
	nf, n := binary.Uvarint(b)
	if n <= 0 || nf > uint64(len(b)) {
		return nil, errBadCounts
	}
	b = b[n:]
	if m == nil {
		m = make(map[string]int64, nf+2)
	}
	if h != 0 {
		m["h"] += h
	}
	if bot != 0 {
		m["b"] += bot
	}
	for range nf {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errBadCounts
		}
		f := string(b[n : n+int(l)])
		b = b[n+int(l):]
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<62 {
			return nil, errBadCounts
		}
		b = b[n:]
		m[f] += int64(v)
	}
	if len(b) != 0 {
		return nil, errBadCounts
	}
	return m, nil
}

// Visitor sketches are stored as two length-prefixed HyperLogLog
// encodings: all scans, then human scans (empty when none).
func encodeSketches(all, human *hyperloglog.Sketch) ([]byte, error) {
	var b []byte
	for _, sk := range [2]*hyperloglog.Sketch{all, human} {
		if sk == nil {
			b = binary.AppendUvarint(b, 0)
			continue
		}
		enc, err := sk.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b, nil
}

// splitSketches returns the encodings of the two sketches (empty when
// absent) without decoding them.
func splitSketches(b []byte) (all, human []byte, err error) {
	var parts [2][]byte
	for i := range parts {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, nil, errors.New("damaged visitor sketches")
		}
		parts[i], b = b[n:n+int(l)], b[n+int(l):]
	}
	return parts[0], parts[1], nil
}

// decodeSketch decodes one sketch; nil when enc is empty.
func decodeSketch(enc []byte) (*hyperloglog.Sketch, error) {
	if len(enc) == 0 {
		return nil, nil
	}
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(enc); err != nil {
		return nil, fmt.Errorf("damaged visitor sketch: %w", err)
	}
	return sk, nil
}

func compareBucketKeys(a, b aggregate.BucketKey) int {
	if c := cmp.Compare(a.G, b.G); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Start, b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.Link, b.Link)
}

// apply adds d to the stored aggregates and records pos, in one
// transaction: the counters and the position commit together or not at
// all, which is what makes the counts exact across crashes.
func apply(db *bolt.DB, d *aggregate.Delta, pos position) error {
	// Writing keys in order keeps bbolt's cursor moves short.
	keys := make([]aggregate.BucketKey, 0, len(d.Counts))
	for k := range d.Counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareBucketKeys)
	ukeys := make([]aggregate.BucketKey, 0, len(d.Uniques))
	for k := range d.Uniques {
		ukeys = append(ukeys, k)
	}
	slices.SortFunc(ukeys, compareBucketKeys)
	return db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketStats)
		for _, bk := range keys {
			k := bucketKey(bk.G, bk.Start, bk.Link)
			m := d.Counts[bk]
			if old := st.Get(k); old != nil {
				var err error
				if m, err = decodeCounts(old, cloneCounts(m)); err != nil {
					// Counting on from damaged counters would make them
					// wrong for good: stop, loudly.
					return fmt.Errorf("cannot add to the counters of %s bucket %d: %w", bk.G, bk.Start, err)
				}
			}
			if err := st.Put(k, encodeCounts(m)); err != nil {
				return err
			}
		}
		un := tx.Bucket(bucketUniq)
		for _, bk := range ukeys {
			k := bucketKey(bk.G, bk.Start, bk.Link)
			v, err := addVisitors(un.Get(k), d.Uniques[bk])
			if err != nil {
				return fmt.Errorf("cannot add to the visitors of %s bucket %d: %w", bk.G, bk.Start, err)
			}
			if err := un.Put(k, v); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketPos).Put(keyPos, pos.encode())
	})
}

// cloneCounts copies m, so that a failed transaction leaves the delta as
// it was for the retry.
func cloneCounts(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m)+8)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// addVisitors adds hashes to encoded sketches (nil when none yet).
func addVisitors(old []byte, v *aggregate.Visitors) ([]byte, error) {
	var all, human *hyperloglog.Sketch
	if old != nil {
		a, h, err := splitSketches(old)
		if err != nil {
			return nil, err
		}
		if all, err = decodeSketch(a); err != nil {
			return nil, err
		}
		if human, err = decodeSketch(h); err != nil {
			return nil, err
		}
	}
	if len(v.All) > 0 && all == nil {
		all = hyperloglog.New14()
	}
	for _, x := range v.All {
		all.InsertHash(x)
	}
	if len(v.Human) > 0 && human == nil {
		human = hyperloglog.New14()
	}
	for _, x := range v.Human {
		human.InsertHash(x)
	}
	return encodeSketches(all, human)
}

// pruneLimit bounds the keys one prune transaction deletes, so that it
// never holds the write lock for long.
const pruneLimit = 10000

// prune deletes the buckets whose retention ended at now. It returns how
// many keys it deleted.
func prune(db *bolt.DB, ret aggregate.Retention, now time.Time) (int, error) {
	total := 0
	for _, g := range store.Granularities {
		// A bucket expires when ret.ExpireAt(g, start) <= now, that is
		// when start <= last.
		last := now.Unix() - g.Seconds() - int64(ret[g]/time.Second)
		lo := bucketPrefix(nil, g, -1<<63)
		hi := bucketPrefix(nil, g, last+1)
		for _, name := range [][]byte{bucketStats, bucketUniq} {
			for {
				n := 0
				err := db.Update(func(tx *bolt.Tx) error {
					b := tx.Bucket(name)
					var dead [][]byte
					c := b.Cursor()
					for k, _ := c.Seek(lo); k != nil && bytes.Compare(k, hi) < 0 && len(dead) < pruneLimit; k, _ = c.Next() {
						dead = append(dead, bytes.Clone(k))
					}
					for _, k := range dead {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
					n = len(dead)
					return nil
				})
				if err != nil {
					return total, fmt.Errorf("cannot delete expired stats: %w", err)
				}
				total += n
				if n < pruneLimit {
					break
				}
			}
		}
	}
	return total, nil
}
