package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment is what ReadSegment found in a segment file.
type Segment struct {
	Batches  [][][]byte // each batch's events
	Good     int64      // bytes of intact records
	Bad      int64      // bytes after the first damaged record
	BadError error      // why reading stopped early, when Bad > 0
}

// ReadSegment reads a segment, keeping every intact record before the
// first damaged one.
func (s *Spool) ReadSegment(name string) (Segment, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return Segment{}, err
	}
	return parseSegment(data), nil
}

func parseSegment(data []byte) Segment {
	var seg Segment
	off := 0
	for off < len(data) {
		if len(data)-off < 8 {
			seg.BadError = fmt.Errorf("torn record header at byte %d", off)
			break
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > maxRecordLen || off+8+n > len(data) {
			seg.BadError = fmt.Errorf("record at byte %d runs past the end (length %d)", off, n)
			break
		}
		payload := data[off+8 : off+8+n]
		if crc32.Checksum(payload, crcTable) != sum {
			seg.BadError = fmt.Errorf("checksum mismatch in record at byte %d", off)
			break
		}
		batch, err := parseBatch(payload)
		if err != nil {
			seg.BadError = fmt.Errorf("record at byte %d: %w", off, err)
			break
		}
		seg.Batches = append(seg.Batches, batch)
		off += 8 + n
	}
	seg.Good = int64(off)
	seg.Bad = int64(len(data) - off)
	return seg
}

func parseBatch(p []byte) ([][]byte, error) {
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)) {
		return nil, errors.New("bad event count")
	}
	p = p[n:]
	out := make([][]byte, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, io.ErrUnexpectedEOF
		}
		out = append(out, p[n:n+int(l)])
		p = p[n+int(l):]
	}
	if len(p) != 0 {
		return nil, errors.New("trailing bytes in batch")
	}
	return out, nil
}

// The methods below let a reader tail the spool while it is written (the
// embedded aggregator, analytics/localagg). Such a reader is then the only
// one that removes segments: a spool is tailed or replayed to a sink, not
// both.

// SegmentFile is one segment as Segments lists it.
type SegmentFile struct {
	Name   string
	Seq    uint64
	Sealed bool // false for the segment being written (its name ends in .tmp)
}

// Segments lists every segment oldest first, the one being written
// included. That one may be sealed, which renames it, at any moment after
// the listing: opening it by the listed name then fails with an error
// matching fs.ErrNotExist, and the caller lists again.
func (s *Spool) Segments() ([]SegmentFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list spool %q: %w", s.dir, err)
	}
	var out []SegmentFile
	for _, e := range entries {
		n := e.Name()
		digits, ok := strings.CutPrefix(n, segPrefix)
		if !ok {
			continue
		}
		sealed := true
		if d, ok := strings.CutSuffix(digits, segSuffix+".tmp"); ok {
			digits, sealed = d, false
		} else if digits, ok = strings.CutSuffix(digits, segSuffix); !ok {
			continue
		}
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, SegmentFile{Name: n, Seq: seq, Sealed: sealed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// ReserveSeq makes the sequence numbers of segments created from now on at
// least seq. A reader that remembers a position in the spool calls it
// before anything is appended, so that a spool emptied behind its back
// (a deleted directory) cannot reuse the numbers of segments it has read.
func (s *Spool) ReserveSeq(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextSeq < seq {
		s.nextSeq = seq
	}
}

// Records is what ReadRecords found.
type Records struct {
	Batches [][][]byte // each intact record's events
	Ends    []int64    // Ends[i] is the offset just after Batches[i]
	End     int64      // offset after the last record read (the start offset if none)
	Size    int64      // size of the file when it was opened; below End if the file was cut short
	// Bad is the bytes from End to Size that do not form an intact record,
	// when reading stopped there (0 otherwise). In the segment being
	// written it is a record not completely written yet; in a sealed
	// segment it is damage.
	Bad      int64
	BadError error
}

// ReadRecords reads the intact records of a segment that start at byte
// offset off: about maxBytes of them (at least one, when there is one),
// up to the end of the file or to the first incomplete or damaged record.
func (s *Spool) ReadRecords(name string, off, maxBytes int64) (Records, error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return Records{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Records{}, err
	}
	r := Records{End: off, Size: fi.Size()}
	if off >= r.Size {
		return r, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, off, r.Size-off), int(min(64<<10, r.Size-off)))
	var hdr [8]byte
	for r.End < r.Size && (len(r.Batches) == 0 || r.End-off < maxBytes) {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				return r, fmt.Errorf("cannot read spool segment %s: %w", name, err)
			}
			r.BadError = fmt.Errorf("torn record header at byte %d", r.End)
			break
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n > maxRecordLen || r.End+8+n > r.Size {
			r.BadError = fmt.Errorf("record at byte %d runs past the end (length %d)", r.End, n)
			break
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return r, fmt.Errorf("cannot read spool segment %s: %w", name, err)
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			r.BadError = fmt.Errorf("checksum mismatch in record at byte %d", r.End)
			break
		}
		batch, err := parseBatch(payload)
		if err != nil {
			r.BadError = fmt.Errorf("record at byte %d: %w", r.End, err)
			break
		}
		r.End += 8 + n
		r.Batches = append(r.Batches, batch)
		r.Ends = append(r.Ends, r.End)
	}
	if r.BadError != nil {
		r.Bad = r.Size - r.End
	}
	return r, nil
}
