package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/internal/testlog"
	"github.com/qredge/qredge/store"
)

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// TestConvertUnderTraffic opens a store of JSON records and converts it
// while other goroutines read, update and create links: every link reads
// the same before, during and after, no write is lost, and at the end
// every record is binary.
func TestConvertUnderTraffic(t *testing.T) {
	const n = 5 * convertBatch
	dir := t.TempDir()
	want := mustLegacyStore(t, dir, n, richLinks(t))
	db := mustOpen(t, dir)
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("the JSON store does not read as written")
	}
	ctx := context.Background()
	var logs testlog.Buffer
	db.ConvertLinks(newTestLogger(&logs))
	done := db.conv.done

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[string]string{} // links the traffic wrote, by key
		reads   atomic.Int64
		failed  atomic.Bool
	)
	fail := func(format string, args ...any) {
		failed.Store(true)
		t.Errorf(format, args...)
	}
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				if failed.Load() {
					return
				}
				code := fmt.Sprintf("c%07d", r.IntN(n/2)*2+1)
				switch {
				case g == 0 && i%4 == 0: // update a link that no one else writes
					code = fmt.Sprintf("c%07d", r.IntN(n/2)*2)
					l, err := db.UpdateLink(ctx, &store.Link{Code: code, Destination: fmt.Sprintf("https://example.org/upd/%d", i), Status: 301}, 0)
					if err != nil {
						fail("UpdateLink(%s): %v", code, err)
						return
					}
					mu.Lock()
					written[l.Key()] = jsonOf(t, l)
					mu.Unlock()
				case g == 1 && i%4 == 0:
					l, err := db.CreateLink(ctx, &store.Link{Code: fmt.Sprintf("new%d", i), Destination: "https://example.org/new", Status: 302})
					if err != nil {
						fail("CreateLink: %v", err)
						return
					}
					mu.Lock()
					written[l.Key()] = jsonOf(t, l)
					mu.Unlock()
				default:
					l, err := db.GetLink(ctx, "", code)
					if err != nil {
						fail("GetLink(%s) during the conversion: %v", code, err)
						return
					}
					// Only odd codes: the updates take even ones.
					key := store.LinkKey("", code)
					if got := jsonOf(t, l); got != want[key] {
						fail("GetLink(%s) during the conversion = %s, want %s", code, got, want[key])
						return
					}
					reads.Add(1)
				}
			}
		}()
	}
	<-done
	wg.Wait()
	if t.Failed() {
		return
	}
	for k, v := range written {
		want[k] = v
	}
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the conversion: %d links, want %d; or some differ", len(got), len(want))
	}
	for key, rec := range rawRecords(t, db) {
		if rec[0] != formatBinary {
			t.Fatalf("%s is still %q", key, rec)
		}
	}
	if m := formatMark(t, db); !bytes.Equal(m, []byte{formatBinary}) {
		t.Fatalf("format mark %q after the conversion", m)
	}
	// The updates during the conversion were written binary already and
	// are not counted.
	converted := n + len(richLinks(t))
	log := logs.String()
	if !strings.Contains(log, "converting stored links from JSON") || !strings.Contains(log, "left_in_json=0") {
		t.Fatalf("log:\n%s", log)
	}
	t.Logf("%d reads and %d writes during the conversion of %d links; log:\n%s", reads.Load(), len(written), converted, log)
	if reads.Load() == 0 || len(written) == 0 {
		t.Fatal("no traffic ran during the conversion")
	}

	// Converted, a store starts no conversion.
	db.Close()
	db = mustOpen(t, dir)
	db.ConvertLinks(newTestLogger(io.Discard))
	if db.conv != nil {
		t.Fatal("a conversion started on a converted store")
	}
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("after reopening, links differ")
	}
}

// TestConvertResumes stops the conversion after a batch, as a crash would,
// and opens the store again: the mix of both forms reads the same, and
// the next conversion finishes the rest.
func TestConvertResumes(t *testing.T) {
	const n = 3*convertBatch + 10
	dir := t.TempDir()
	want := mustLegacyStore(t, dir, n, richLinks(t))
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	after, st, err := db.convertBatch(nil, true)
	if err != nil || after == nil || st.converted != convertBatch {
		t.Fatalf("first batch: %q, %+v, %v", after, st, err)
	}
	db.Close()

	db = mustOpen(t, dir)
	forms := map[byte]int{}
	for _, rec := range rawRecords(t, db) {
		forms[rec[0]]++
	}
	if forms[formatBinary] != convertBatch || forms['{'] != len(want)-convertBatch {
		t.Fatalf("after one batch: %v", forms)
	}
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("the mix of both forms does not read as written")
	}
	var logs testlog.Buffer
	db.ConvertLinks(newTestLogger(&logs))
	<-db.conv.done
	if !strings.Contains(logs.String(), fmt.Sprintf("converted=%d ", len(want)-convertBatch)) {
		t.Fatalf("log:\n%s", logs.String())
	}
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("after the conversion, links differ")
	}
}

// TestConvertKeepsWhatBinaryCannotHold leaves in JSON a record whose
// binary form would not read back (a status past what the form holds,
// which validation never lets in).
func TestConvertKeepsWhatBinaryCannotHold(t *testing.T) {
	dir := t.TempDir()
	mustLegacyStore(t, dir, 3, nil)
	db := mustOpen(t, dir)
	odd := []byte(`{"code":"odd","destination":"https://example.com/","status":70000,"forward_query":false,"disabled":false,"created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","version":9}`)
	if err := db.Bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLinks).Put([]byte(store.LinkKey("", "odd")), odd) }); err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	db.ConvertLinks(newTestLogger(&logs))
	<-db.conv.done
	if got := rawRecords(t, db)[store.LinkKey("", "odd")]; !bytes.Equal(got, odd) {
		t.Fatalf("record became %q", got)
	}
	if l, err := db.GetLink(context.Background(), "", "odd"); err != nil || l.Status != 70000 {
		t.Fatalf("GetLink = %+v, %v", l, err)
	}
	if !strings.Contains(logs.String(), "converted=3 left_in_json=1") || formatMark(t, db) != nil {
		t.Fatalf("mark %q, log:\n%s", formatMark(t, db), logs.String())
	}
}

// TestCloseStopsConversion closes the store in the middle of a
// conversion.
func TestCloseStopsConversion(t *testing.T) {
	dir := t.TempDir()
	want := mustLegacyStore(t, dir, 4*convertBatch, nil)
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	db.ConvertLinks(newTestLogger(&logs))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir)
	if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("after a stopped conversion, links differ")
	}
}
