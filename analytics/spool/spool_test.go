package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzSegment: the whole-segment reader accounts for every byte of any
// file, and reports why it stopped whenever it stopped early.
func FuzzSegment(f *testing.F) {
	dir := f.TempDir()
	s, _ := Open(dir, 1<<20, 1<<20)
	s.Append([][]byte{[]byte("a"), []byte("bc")})
	s.Append([][]byte{[]byte("d")})
	s.Close()
	name, _ := s.Oldest()
	data, _ := os.ReadFile(filepath.Join(dir, name))
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		seg := parseSegment(data)
		if seg.Good+seg.Bad != int64(len(data)) || (seg.Bad > 0) != (seg.BadError != nil) {
			t.Fatalf("good %d bad %d of %d (%v)", seg.Good, seg.Bad, len(data), seg.BadError)
		}
	})
}

func TestSpoolCorruptionAndCap(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20, 200)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Append([][]byte{[]byte(fmt.Sprintf("event-%02d-a", i)), []byte(fmt.Sprintf("event-%02d-b", i))}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// Damage the tail of the oldest segment, as a torn write would.
	name, _ := s.Oldest()
	path := filepath.Join(dir, name)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append(data[:len(data)-3], 0xde, 0xad, 0xbe), 0o600)
	seg, err := s.ReadSegment(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(seg.Batches) == 0 || seg.Bad == 0 || seg.BadError == nil || seg.Good+seg.Bad != int64(len(data)) {
		t.Fatalf("damaged segment: %d batches, good %d, bad %d, %v", len(seg.Batches), seg.Good, seg.Bad, seg.BadError)
	}
	if string(seg.Batches[0][0]) != "event-00-a" {
		t.Fatalf("first event %q", seg.Batches[0][0])
	}
	// A truncated file: same.
	os.WriteFile(path, data[:len(data)-5], 0o600) // cut inside the last record
	seg, _ = s.ReadSegment(name)
	if seg.Bad == 0 {
		t.Fatal("truncated segment not detected")
	}
	// The cap.
	small, _ := Open(t.TempDir(), 100, 1000)
	if err := small.Append([][]byte{make([]byte, 50)}); err != nil {
		t.Fatal(err)
	}
	if err := small.Append([][]byte{make([]byte, 50)}); !errors.Is(err, ErrFull) {
		t.Fatalf("over the cap: %v", err)
	}
	// Reopening finds the size on disk.
	re, _ := Open(dir, 1<<20, 200)
	if re.Size() == 0 {
		t.Fatal("reopened spool is empty")
	}
}

func TestSpoolExclusive(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, 1<<20, 1<<20); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open of one spool: %v", err)
	}
	s.Close()
	s2, err := Open(dir, 1<<20, 1<<20)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

// FuzzReadRecords: the tailing reader (Spool.ReadRecords) agrees with the
// whole-segment reader (Spool.ReadSegment) on any file, also when read in
// small steps from the record ends it returns.
func FuzzReadRecords(f *testing.F) {
	dir := f.TempDir()
	sp, err := Open(dir, 1<<30, 1<<30)
	if err != nil {
		f.Fatal(err)
	}
	sp.Append([][]byte{[]byte("a"), []byte("bc")})
	sp.Append([][]byte{})
	sp.Append([][]byte{[]byte("d")})
	sp.Close()
	segs, _ := sp.Segments()
	name := segs[0].Name
	data, _ := os.ReadFile(filepath.Join(dir, name))
	f.Add(data, uint16(1))
	f.Add(data[:len(data)-1], uint16(100))
	f.Add(append(append([]byte{}, data...), 0, 0, 0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		seg, err := sp.ReadSegment(name)
		if err != nil {
			t.Fatal(err)
		}
		var batches [][][]byte
		var r Records
		for off := int64(0); ; off = r.End {
			if r, err = sp.ReadRecords(name, off, int64(step)); err != nil {
				t.Fatal(err)
			}
			if len(r.Batches) != len(r.Ends) || (len(r.Ends) > 0 && r.Ends[len(r.Ends)-1] != r.End) {
				t.Fatalf("%d batches, ends %v, end %d", len(r.Batches), r.Ends, r.End)
			}
			batches = append(batches, r.Batches...)
			if len(r.Batches) == 0 {
				break
			}
		}
		if r.End != seg.Good || r.Bad != seg.Bad || (r.BadError == nil) != (seg.BadError == nil) || r.Size != int64(len(data)) {
			t.Fatalf("tail: end %d bad %d (%v); segment: good %d bad %d (%v)", r.End, r.Bad, r.BadError, seg.Good, seg.Bad, seg.BadError)
		}
		if len(batches) != len(seg.Batches) || (len(batches) > 0 && !reflect.DeepEqual(batches, seg.Batches)) {
			t.Fatalf("tail read %d batches, segment %d", len(batches), len(seg.Batches))
		}
	})
}
