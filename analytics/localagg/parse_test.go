package localagg

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
)

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
	testwait.For(t, 5*time.Second, "the leftover segment removed", func() bool {
		_, err := os.Stat(first)
		return os.IsNotExist(err)
	})
	if e.applied() != 0 {
		t.Fatalf("the leftover segment was counted again: %d events", e.applied())
	}
	e.a.Close()
	checkStats(t, e.a, evs, time.Minute)
}
