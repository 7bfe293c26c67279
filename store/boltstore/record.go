package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"github.com/qredge/qredge/store"
)

// A link record in the links bucket is in one of two forms, told apart by
// its first byte:
//
//   - formatBinary: store.AppendLinkBinary, the form every write uses,
//     the same as on Redis and in an edge's snapshot;
//   - '{': the JSON of store.Link, the form of files written before the
//     binary one. They are read as they are and rewritten in the binary
//     form by their next update or by the background conversion
//     (convert.go).
//
// Any other first byte is damage, reported with the link's key.
const formatBinary = 1 // store.AppendLinkBinary's first byte; record_test.go checks it

// appendLink appends the stored form of l to dst.
func appendLink(dst []byte, l *store.Link) []byte {
	return store.AppendLinkBinary(dst, l)
}

// decodeLink decodes the record v stored under key, in either form. The
// link owns its memory: v may be bbolt's, valid only in its transaction.
func decodeLink(key, v []byte) (*store.Link, error) {
	var d batchDecoder
	d.reset(1, len(v))
	if err := d.add(key, v); err != nil {
		return nil, err
	}
	return &d.take()[0], nil
}

// decodeNonBinary decodes a record that is not in the binary form: JSON,
// or damage.
func decodeNonBinary(l *store.Link, v []byte) error {
	switch {
	case len(v) == 0:
		return errors.New("the record is empty")
	case v[0] == '{':
		return json.Unmarshal(v, l)
	default:
		return fmt.Errorf("the record starts with byte %#02x, neither a binary link (%#02x) nor JSON ('{')", v[0], formatBinary)
	}
}

// batchDecoder decodes records into batches of links that share two
// allocations: one array of links and one string holding every code,
// domain and destination of the batch (a JSON record's link has strings
// of its own). A caller that keeps one link of a batch keeps the batch's
// memory too; loading a table keeps none.
type batchDecoder struct {
	links []store.Link
	arena []byte
	offs  []linkStrings
}

// linkStrings says where a link's code, domain and destination are in the
// arena: start and end of each; json marks a link decoded from JSON.
type linkStrings struct {
	pos  [3][2]int32
	json bool
}

// linkBatchSize is how many links a batch holds: enough that its two
// allocations cost nothing per link, few enough to stay in cache.
const linkBatchSize = 512

// reset starts a batch of at most n links, with room for about
// arenaBytes of their strings.
func (d *batchDecoder) reset(n, arenaBytes int) {
	d.links = make([]store.Link, 0, n)
	d.arena = make([]byte, 0, arenaBytes)
	d.offs = d.offs[:0]
}

func (d *batchDecoder) full() bool { return len(d.links) == cap(d.links) }

// add decodes the record v stored under key as the batch's next link. On
// error the batch is as it was.
func (d *batchDecoder) add(key, v []byte) error {
	if d.links == nil {
		d.reset(linkBatchSize, linkBatchSize*64)
	}
	arena := len(d.arena)
	d.links = append(d.links, store.Link{})
	s, err := d.decode(&d.links[len(d.links)-1], v)
	if err != nil {
		d.links, d.arena = d.links[:len(d.links)-1], d.arena[:arena]
		return fmt.Errorf("cannot decode stored link %q: %w", key, err)
	}
	d.offs = append(d.offs, s)
	return nil
}

func (d *batchDecoder) decode(l *store.Link, v []byte) (linkStrings, error) {
	var s linkStrings
	if len(v) == 0 || v[0] != formatBinary {
		s.json = true
		return s, decodeNonBinary(l, v)
	}
	// store.DecodeLinkBinary, but for where the strings go.
	b := v[1:]
	ver, n := binary.Uvarint(b)
	if n <= 0 {
		return s, fmt.Errorf("%w: bad version", store.ErrBadLinkBinary)
	}
	b = b[n:]
	for i := range s.pos {
		ln, n := binary.Uvarint(b)
		if n <= 0 || ln > uint64(len(b)-n) {
			return s, fmt.Errorf("%w: bad length", store.ErrBadLinkBinary)
		}
		s.pos[i][0] = int32(len(d.arena))
		d.arena = append(d.arena, b[n:n+int(ln)]...)
		s.pos[i][1] = int32(len(d.arena))
		b = b[n+int(ln):]
	}
	l.Version = ver
	return s, store.DecodeLinkExtras(l, b)
}

// take returns the links decoded so far and starts a new batch.
func (d *batchDecoder) take() []store.Link {
	links := d.links
	// The arena is never written again: the string shares its bytes.
	all := unsafe.String(unsafe.SliceData(d.arena), len(d.arena))
	for i, s := range d.offs {
		if s.json {
			continue
		}
		l, p := &links[i], &s.pos
		l.Code, l.Domain, l.Destination = all[p[0][0]:p[0][1]], all[p[1][0]:p[1][1]], all[p[2][0]:p[2][1]]
	}
	d.links, d.arena, d.offs = nil, nil, d.offs[:0]
	return links
}
