package localagg

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/qredge/qredge/analytics"
)

// FuzzReadRecords: the tailing reader (Spool.ReadRecords) agrees with the
// whole-segment reader (Spool.ReadSegment) on any file, also when read in
// small steps from the record ends it returns.
func FuzzReadRecords(f *testing.F) {
	dir := f.TempDir()
	sp, err := analytics.OpenSpool(dir, 1<<30, 1<<30)
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
		var r analytics.Records
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

// FuzzDecodeCounts: stored counters either fail to decode or decode to a
// map that encodes back to the same bytes.
func FuzzDecodeCounts(f *testing.F) {
	f.Add(encodeCounts(map[string]int64{"h": 3, "b": 1, "hc:US": 2, "hc:DE": 1, "bt:destination": 1}))
	f.Add(encodeCounts(map[string]int64{}))
	f.Add([]byte{countsVersion, 0, 0, 1, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeCounts(b, nil)
		if err != nil {
			return
		}
		m2, err := decodeCounts(encodeCounts(m), nil)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("%v re-encoded decodes to %v, %v", m, m2, err)
		}
		if _, _, _, err := decodeTotals(b); err != nil {
			t.Fatalf("counters decode but totals do not: %v", err)
		}
	})
}

func TestCountsRoundTrip(t *testing.T) {
	f := func(m map[string]int64) {
		t.Helper()
		b := encodeCounts(m)
		got, err := decodeCounts(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{}
		for k, v := range m {
			if v != 0 {
				want[k] = v
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v decodes to %v", m, got)
		}
		h, bot, _, err := decodeTotals(b)
		if err != nil || h != m["h"] || bot != m["b"] {
			t.Fatalf("totals %d %d %v", h, bot, err)
		}
		// Adding to existing counters.
		sum, err := decodeCounts(b, map[string]int64{"h": 1, "x": 2})
		if err != nil || sum["h"] != m["h"]+1 || sum["x"] != m["x"]+2 {
			t.Fatalf("sum %v %v", sum, err)
		}
	}
	f(map[string]int64{})
	f(map[string]int64{"h": 1})
	f(map[string]int64{"b": 1 << 40, "bd:ios": 1 << 40})
	f(map[string]int64{"h": 5, "b": 2, "hc:US": 3, "hc:--": 2, "hr:(direct)": 5, "ht:rule:0": 4, "ht:variant:": 1})
	for _, bad := range [][]byte{nil, {}, {2}, {countsVersion}, {countsVersion, 1, 1, 1}, {countsVersion, 1, 1, 0, 0}} {
		if _, err := decodeCounts(bad, nil); err == nil {
			t.Fatalf("%v decoded", bad)
		}
	}
}

// TestLeftoverSegment: a process killed between the commit that passed a
// segment and the segment's removal leaves it behind; the next run
// removes it without counting it again.
func TestLeftoverSegment(t *testing.T) {
	dir := t.TempDir()
	evs := genEvents(600, 11, time.Minute)
	recs := encodeEvents(evs)
	e := mustOpen(t, dir, testConfig(), 4<<10)
	appendRecords(t, e.sp, recs, 20)
	segs, _ := e.sp.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	first := filepath.Join(dir, "spool", segs[0].Name)
	saved, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	e.a.Start()
	e.waitApplied(t, 600)
	e.close()
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("applied segment not removed: %v", err)
	}
	if err := os.WriteFile(first, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	e = mustOpen(t, dir, testConfig(), 4<<10)
	e.a.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(first); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leftover segment not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if e.applied() != 0 {
		t.Fatalf("the leftover segment was counted again: %d events", e.applied())
	}
	e.a.Close()
	checkStats(t, e.a, evs, time.Minute)
}
