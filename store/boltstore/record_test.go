package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

func TestFormatByte(t *testing.T) {
	b := store.AppendLinkBinary(nil, &store.Link{Code: "a", Destination: "https://example.com/"})
	if b[0] != formatBinary {
		t.Fatalf("store.AppendLinkBinary starts with %d, the store reads %d as binary", b[0], formatBinary)
	}
}

// richLinks are valid links with every optional part.
func richLinks(t *testing.T) []*store.Link {
	t.Helper()
	at := func(tm time.Time) *time.Time { return &tm }
	future := testclock.Now().Truncate(time.Second) // schedules in the future, whatever today is
	links := []*store.Link{
		{Code: "plain", Destination: "https://example.com/p?x=1#f"},
		{Code: "full", Domain: "go.example", Destination: "https://example.com/full", Status: 307, ForwardQuery: true,
			QueryPrecedence: store.QueryScanWins, Disabled: true, Tags: []string{"bf26", "tv"},
			Rules: []store.Rule{
				{When: store.Match{Device: []string{"ios"}, Country: []string{"DE", "AT"}, Lang: []string{"de"}}, Destination: "https://example.de/"},
				{When: store.Match{Query: map[string]string{"src": "tv"}, Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"c": "v"}}, Destination: "https://example.com/q"},
			},
			Variants: []store.Variant{{Name: "v1", Destination: "https://example.com/a", Weight: 70}, {Name: "blue", Destination: "https://example.com/b", Weight: 30}},
			Schedule: &store.Schedule{NotBefore: at(future.Add(24 * time.Hour)), BeforeURL: "https://example.com/soon",
				NotAfter: at(future.AddDate(0, 1, 0)), AfterURL: "https://example.com/over"}},
		{Code: "sched", Destination: "https://example.com/s", Status: 308, Schedule: &store.Schedule{NotAfter: at(future.AddDate(4, 0, 0))}},
	}
	for _, l := range links {
		if err := l.Validate(); err != nil {
			t.Fatalf("%s: %v", l.Code, err)
		}
	}
	return links
}

func jsonOf(t *testing.T, l *store.Link) string {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allLinks returns every link of db by ForEachLink, as JSON by key.
func allLinks(t *testing.T, db *DB) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := db.ForEachLink(context.Background(), func(l *store.Link) error {
		m[l.Key()] = jsonOf(t, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rawRecords returns the stored records by key.
func rawRecords(t *testing.T, db *DB) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := db.Bolt().View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
			m[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBinaryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]string{}
	var created []*store.Link
	for _, l := range richLinks(t) {
		c, err := db.CreateLink(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		want[c.Key()] = jsonOf(t, c)
		created = append(created, c)
	}
	check := func(db *DB) {
		t.Helper()
		for key, rec := range rawRecords(t, db) {
			if rec[0] != formatBinary {
				t.Errorf("%s is stored as %q, not in the binary form", key, rec)
			}
		}
		for _, c := range created {
			got, err := db.GetLink(ctx, c.Domain, c.Code)
			if err != nil || jsonOf(t, got) != want[c.Key()] {
				t.Errorf("GetLink(%s) = %+v, %v\nwant %s", c.Key(), got, err, want[c.Key()])
			}
		}
		if got := allLinks(t, db); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ForEachLink:\n%v\nwant\n%v", got, want)
		}
		page, err := db.ListLinks(ctx, store.ListOptions{})
		if err != nil || len(page.Links) != len(want) {
			t.Fatalf("ListLinks: %d links, %v", len(page.Links), err)
		}
		for _, l := range page.Links {
			if jsonOf(t, l) != want[l.Key()] {
				t.Errorf("ListLinks: %s\nwant %s", jsonOf(t, l), want[l.Key()])
			}
		}
	}
	check(db)
	db.Close()
	check(mustOpen(t, dir))
}

// mustLegacyStore writes, in dir, a store of n links (plus the rich ones)
// as files written before the binary form hold them: every record JSON,
// no format mark. It returns the links as JSON by key.
func mustLegacyStore(t testing.TB, dir string, n int, rich []*store.Link) map[string]string {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustSeed(t, db, n)
	for _, l := range rich {
		if _, err := db.CreateLink(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	toJSON(t, db)
	want := map[string]string{}
	err = db.ForEachLink(context.Background(), func(l *store.Link) error {
		b, err := json.Marshal(l)
		want[l.Key()] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// mustSeed adds n links c0000000.. to db.
func mustSeed(tb testing.TB, db *DB, n int) {
	tb.Helper()
	batch := make([]*store.Link, 0, 10000)
	flush := func() {
		if _, _, err := db.CreateLinks(context.Background(), batch, true); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		batch = append(batch, &store.Link{Code: fmt.Sprintf("c%07d", i), Destination: fmt.Sprintf("https://example.com/campaign/%d?utm_source=qr", i),
			Status: 302, Tags: []string{"seed"}})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
}

// toJSON rewrites every link record of db as JSON (what the store wrote
// before the binary form) and removes the format mark.
func toJSON(tb testing.TB, db *DB) {
	tb.Helper()
	var after []byte
	for {
		err := db.Bolt().Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketLinks)
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				c.Seek(after)
				k, v = c.Next()
			}
			var keys, vals [][]byte
			for ; k != nil && len(keys) < 50000; k, v = c.Next() {
				l, err := decodeLink(k, v)
				if err != nil {
					continue // damaged: left as it is
				}
				j, err := json.Marshal(l)
				if err != nil {
					return err
				}
				keys, vals = append(keys, bytes.Clone(k)), append(vals, j)
			}
			for i := range keys {
				if err := b.Put(keys[i], vals[i]); err != nil {
					return err
				}
			}
			after = nil
			if k != nil {
				after = keys[len(keys)-1]
			}
			return tx.Bucket(bucketMeta).Delete(keyLinkFormat)
		})
		if err != nil {
			tb.Fatal(err)
		}
		if after == nil {
			return
		}
	}
}

func formatMark(t *testing.T, db *DB) []byte {
	t.Helper()
	var v []byte
	db.Bolt().View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get(keyLinkFormat))
		return nil
	})
	return v
}

func TestDamagedRecord(t *testing.T) {
	for _, rec := range [][]byte{{7, 'x'}, {}, {0}, {formatBinary, 1, 5, 'a'}, []byte(`{"code":`)} {
		t.Run(fmt.Sprintf("%q", rec), func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir)
			ctx := context.Background()
			mustSeed(t, db, 3)
			err := db.Bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLinks).Put([]byte(store.LinkKey("", "c0000001")), rec) })
			if err != nil {
				t.Fatal(err)
			}
			wantErr := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), `cannot decode stored link "c0000001\x00"`) {
					t.Errorf("%s: %v, want an error naming the link", what, err)
				}
			}
			_, err = db.GetLink(ctx, "", "c0000001")
			wantErr("GetLink", err)
			var seen []string
			err = db.ForEachLink(ctx, func(l *store.Link) error { seen = append(seen, l.Code); return nil })
			wantErr("ForEachLink", err)
			if fmt.Sprint(seen) != "[c0000000]" {
				t.Errorf("ForEachLink called fn for %v before the damaged record, want [c0000000]", seen)
			}
			_, err = db.ListLinks(ctx, store.ListOptions{})
			wantErr("ListLinks", err)
			_, err = db.UpdateLink(ctx, &store.Link{Code: "c0000001", Destination: "https://example.com/"}, 0)
			wantErr("UpdateLink", err)
			if _, err := db.GetLink(ctx, "", "c0000002"); err != nil {
				t.Errorf("the next link: %v", err)
			}

			// The conversion leaves it, and does not mark the store converted.
			toJSON(t, db)
			var logs bytes.Buffer
			db.ConvertLinks(newTestLogger(&logs))
			<-db.conv.done
			// A damaged binary record is not the conversion's business.
			wantLog, wantMark := "converted=2 left_in_json=1", []byte(nil)
			if len(rec) > 0 && rec[0] == formatBinary {
				wantLog, wantMark = "converted=2 left_in_json=0", []byte{formatBinary}
			}
			if !bytes.Equal(formatMark(t, db), wantMark) || !strings.Contains(logs.String(), wantLog) {
				t.Errorf("format mark %q after converting around a damaged record; log:\n%s", formatMark(t, db), logs.String())
			}
			if got := rawRecords(t, db)[store.LinkKey("", "c0000001")]; !bytes.Equal(got, rec) {
				t.Errorf("the damaged record became %q", got)
			}
			db.Close()

			rep, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Detail, `cannot decode stored link "c0000001\x00"`) {
				t.Errorf("Verify: %v", rep.Problems)
			}
		})
	}
}

func TestNewStoreIsMarkedBinary(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	if m := formatMark(t, db); !bytes.Equal(m, []byte{formatBinary}) {
		t.Fatalf("format mark of a new store %q", m)
	}
	db.ConvertLinks(newTestLogger(&bytes.Buffer{}))
	if db.conv != nil {
		t.Fatal("a conversion started on a new store")
	}
}

var errStop = errors.New("stop")

func TestForEachLinkStops(t *testing.T) {
	db := mustOpen(t, t.TempDir())
	mustSeed(t, db, 3*linkBatchSize+5)
	n := 0
	err := db.ForEachLink(context.Background(), func(*store.Link) error {
		if n++; n == linkBatchSize+3 {
			return errStop
		}
		return nil
	})
	if err != errStop || n != linkBatchSize+3 {
		t.Fatalf("ForEachLink = %v after %d links", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = db.ForEachLink(ctx, func(*store.Link) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > linkBatchSize {
		t.Fatalf("ForEachLink after cancel = %v after %d links", err, n)
	}
	// Nothing is left holding a transaction: a write goes through.
	if _, err := db.CreateLink(context.Background(), &store.Link{Code: "after", Destination: "https://example.com/"}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadLinksBinary hands over every link, JSON ones in the binary form
// too, on several goroutines; a damaged record or an error of fn stops it.
func TestLoadLinksBinary(t *testing.T) {
	dir := t.TempDir()
	want := mustLegacyStore(t, dir, 10*linkBatchSize+3, richLinks(t))
	db := mustOpen(t, dir)
	if _, _, err := db.convertBatch(nil, true); err != nil { // a mix of both forms
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	got := map[string]string{}
	err := db.LoadLinksBinary(ctx, 3, func(keys, recs [][]byte) error {
		for i, r := range recs {
			l, err := store.DecodeLinkBinary(r)
			if err != nil {
				return err
			}
			if l.Key() != string(keys[i]) {
				return fmt.Errorf("key %q for link %q", keys[i], l.Key())
			}
			mu.Lock()
			got[l.Key()] = jsonOf(t, l)
			mu.Unlock()
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("LoadLinksBinary: %d links of %d, %v", len(got), len(want), err)
	}

	errStop := errors.New("stop")
	calls := 0
	err = db.LoadLinksBinary(ctx, 2, func(keys, recs [][]byte) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return errStop
	})
	if err != errStop || calls > 2 {
		t.Fatalf("fn's error: %v after %d calls", err, calls)
	}

	key := store.LinkKey("", "c0000700")
	if err := db.Bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketLinks).Put([]byte(key), []byte{9}) }); err != nil {
		t.Fatal(err)
	}
	err = db.LoadLinksBinary(ctx, 2, func(keys, recs [][]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `cannot decode stored link "c0000700\x00"`) {
		t.Fatalf("damaged record: %v", err)
	}
	// Nothing is left holding a transaction: a write goes through.
	if _, err := db.CreateLink(ctx, &store.Link{Code: "after", Destination: "https://example.com/"}); err != nil {
		t.Fatal(err)
	}
}
