package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	segPrefix    = "spool-"
	segSuffix    = ".seg"
	maxRecordLen = 64 << 20
)

// ErrFull is returned by Append when the spool is at its size cap.
var ErrFull = errors.New("spool is full")

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

// Open opens (creating) the spool in dir, with a total size cap and a
// segment size.
func Open(dir string, maxBytes, segBytes int64) (*Spool, error) {
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

// Append writes one batch. It fails with ErrFull at the cap.
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
		return ErrFull
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
