package analytics

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
	"sync"
	"sync/atomic"
	"syscall"
)

// Spool segment format: a file is a sequence of records
//
//	[4 bytes big-endian payload length][4 bytes CRC-32C of payload][payload]
//
// and a payload is one batch: a uvarint event count, then each event as a
// uvarint length and its ScanEvent bytes. A record whose length runs past
// the end of the file or whose checksum does not match ends the readable
// part of the segment (a torn write after power loss, or damage): the
// records before it are kept, the rest is reported.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	segPrefix    = "spool-"
	segSuffix    = ".seg"
	maxRecordLen = 64 << 20
)

// ErrSpoolFull is returned by Append when the spool is at its size cap.
var ErrSpoolFull = errors.New("spool is full")

// Spool is an append-only log of event batches in segment files.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64

	mu      sync.Mutex
	cur     *os.File
	curBuf  *bufio.Writer
	curName string
	curSize int64
	nextSeq uint64
	size    atomic.Int64
	lock    *os.File // holds the exclusive lock while open

	appended chan struct{} // signalled after each Append; nil until Appended is called
}

// OpenSpool opens (creating) the spool in dir, with a total size cap and a
// segment size.
func OpenSpool(dir string, maxBytes, segBytes int64) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create spool directory %q: %w", dir, err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: segBytes}
	// One process per spool: another one would seal and replay segments
	// this one is still writing.
	lock, err := os.OpenFile(filepath.Join(dir, "spool.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the spool lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool directory %q is in use by another qredge process", dir)
	}
	s.lock = lock
	// A segment still named .tmp was being written by a process that
	// crashed: its flushed records are valid (a torn tail is detected when
	// it is read), so seal it.
	entries, err := os.ReadDir(dir)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("cannot list spool %q: %w", dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, segPrefix) && strings.HasSuffix(n, segSuffix+".tmp") {
			if err := os.Rename(filepath.Join(dir, n), filepath.Join(dir, strings.TrimSuffix(n, ".tmp"))); err != nil {
				return nil, fmt.Errorf("cannot recover spool segment %s: %w", n, err)
			}
		}
	}
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	var total int64
	for _, name := range segs {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err == nil {
			total += fi.Size()
		}
		var seq uint64
		fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), "%d", &seq)
		if seq >= s.nextSeq {
			s.nextSeq = seq + 1
		}
	}
	s.size.Store(total)
	return s, nil
}

// segments lists segment files, oldest first.
func (s *Spool) segments() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list spool %q: %w", s.dir, err)
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, segPrefix) && strings.HasSuffix(n, segSuffix) {
			out = append(out, n)
		}
	}
	sort.Strings(out) // zero-padded sequence numbers sort in order
	return out, nil
}

// Size returns the bytes on disk.
func (s *Spool) Size() int64 { return s.size.Load() }

// Append writes one batch. It fails with ErrSpoolFull at the cap.
func (s *Spool) Append(records [][]byte) error {
	payload := binary.AppendUvarint(nil, uint64(len(records)))
	for _, r := range records {
		payload = binary.AppendUvarint(payload, uint64(len(r)))
		payload = append(payload, r...)
	}
	n := int64(8 + len(payload))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size.Load()+n > s.maxBytes {
		return ErrSpoolFull
	}
	if s.cur == nil || s.curSize+n > s.segBytes {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(payload, crcTable))
	_, err := s.curBuf.Write(hdr[:])
	if err == nil {
		_, err = s.curBuf.Write(payload)
	}
	if err == nil {
		// Flush to the OS at once: a crash of the process loses nothing
		// that Append returned for (power loss can still tear the tail).
		err = s.curBuf.Flush()
	}
	if err != nil {
		// Abandon the segment: whatever part of the record reached the
		// file is a torn tail that readers detect; the next Append starts
		// a new segment instead of failing on the stuck writer forever.
		s.abandonLocked()
		return fmt.Errorf("cannot write the spool: %w", err)
	}
	s.curSize += n
	s.size.Add(n)
	if s.appended != nil {
		select {
		case s.appended <- struct{}{}:
		default:
		}
	}
	return nil
}

// abandonLocked closes and seals the current segment after a write error,
// counting the bytes that did reach the file.
func (s *Spool) abandonLocked() {
	if s.cur == nil {
		return
	}
	if fi, err := s.cur.Stat(); err == nil {
		s.size.Add(fi.Size() - s.curSize)
	}
	s.cur.Close()
	final := strings.TrimSuffix(s.curName, ".tmp")
	os.Rename(filepath.Join(s.dir, s.curName), filepath.Join(s.dir, final))
	s.cur, s.curBuf, s.curName, s.curSize = nil, nil, "", 0
}

// rotateLocked seals the current segment and opens a new one.
func (s *Spool) rotateLocked() error {
	if err := s.sealLocked(); err != nil {
		return err
	}
	name := fmt.Sprintf("%s%020d%s.tmp", segPrefix, s.nextSeq, segSuffix)
	s.nextSeq++
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	s.cur, s.curBuf, s.curName, s.curSize = f, bufio.NewWriterSize(f, 64<<10), name, 0
	return nil
}

// sealLocked syncs and closes the current segment and gives it its final
// name, which makes it visible to readers.
func (s *Spool) sealLocked() error {
	if s.cur == nil {
		return nil
	}
	err := s.curBuf.Flush()
	if e := s.cur.Sync(); err == nil {
		err = e
	}
	if e := s.cur.Close(); err == nil {
		err = e
	}
	final := strings.TrimSuffix(s.curName, ".tmp")
	if e := os.Rename(filepath.Join(s.dir, s.curName), filepath.Join(s.dir, final)); err == nil {
		err = e
	}
	s.cur, s.curBuf, s.curName, s.curSize = nil, nil, "", 0
	return err
}

// Seal makes everything appended so far readable by Oldest.
func (s *Spool) Seal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealLocked()
}

// Oldest returns the oldest sealed segment, or "" when there is none.
func (s *Spool) Oldest() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	segs, err := s.segments()
	if err != nil || len(segs) == 0 {
		return "", err
	}
	return segs[0], nil
}

// Remove deletes a segment whose events were delivered.
func (s *Spool) Remove(name string) error {
	fi, err := os.Stat(filepath.Join(s.dir, name))
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
		return err
	}
	s.size.Add(-fi.Size())
	return nil
}

// Close seals the current segment and releases the directory.
func (s *Spool) Close() error {
	err := s.Seal()
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	return err
}

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

// Appended returns a channel that receives a value after Append writes a
// batch (several Appends may give one value), so that a reader can wait
// for new records instead of polling.
func (s *Spool) Appended() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appended == nil {
		s.appended = make(chan struct{}, 1)
	}
	return s.appended
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
