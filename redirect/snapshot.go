package redirect

import (
	"encoding/binary"

	"github.com/qredge/qredge/store"
	snap "github.com/qredge/qredge/store/snapshot"
)

// binaryFormat is store.AppendLinkBinary's first byte.
const binaryFormat = 1

// AppendBinary appends the link's binary form, the same bytes as
// store.AppendLinkBinary of l.Stored(), without decoding its extras. A
// group node appends nothing.
func (l *Link) AppendBinary(dst []byte) []byte {
	if l.group {
		return dst
	}
	dst = append(dst, binaryFormat)
	dst = binary.AppendUvarint(dst, l.version)
	for _, s := range [...]string{l.code(), l.domain(), l.s[l.keyLen:l.destEnd]} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
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
