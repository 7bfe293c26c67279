package linkio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

// fakeStore creates links into a map, refusing codes that exist, and
// lists them in creation order.
type fakeStore struct {
	links []*store.Link
	calls int
	fail  error
}

func (f *fakeStore) CreateLinks(_ context.Context, links []*store.Link, atomic bool) ([]error, error) {
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	errs := make([]error, len(links))
	failed := false
	for i, l := range links {
		for _, have := range f.links {
			if have.Key() == l.Key() {
				errs[i], failed = store.LinkExists(l.Domain, l.Code), true
			}
		}
	}
	if atomic && failed {
		return errs, nil
	}
	for i, l := range links {
		if errs[i] == nil {
			f.links = append(f.links, l)
		}
	}
	return errs, nil
}

func (f *fakeStore) ForEachLink(_ context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	for _, l := range f.links {
		if tag == "" || strings.Contains(strings.Join(l.Tags, " "), tag) {
			if err := fn(l, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *fakeStore) codes() string {
	var c []string
	for _, l := range f.links {
		c = append(c, l.Code)
	}
	return strings.Join(c, ",")
}

func mustSource(t *testing.T, data string, f Format) Source {
	t.Helper()
	src, err := NewSource(strings.NewReader(data), f, false)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestImport(t *testing.T) {
	csv := "code,destination\n" +
		"a,https://a.example/\n" + // 2
		"b,not a url\n" + // 3
		"c,https://c.example/\n" + // 4
		"a,https://a.example/again\n" + // 5: the same code as line 2
		",https://generated.example/\n" + // 6: a code is drawn
		"x,https://x.example/\n" // 7: exists already
	f := func(cfg ImportConfig, to *fakeStore, wantCounts Counts, wantCodes string, wantReport ...string) {
		t.Helper()
		var report bytes.Buffer
		var c Creator
		if to != nil {
			c = to
		}
		im := NewImporter(cfg, c, &report)
		if err := im.Run(context.Background(), mustSource(t, csv, CSV)); err != nil {
			t.Fatal(err)
		}
		if im.Counts() != wantCounts {
			t.Errorf("counts %+v, want %+v", im.Counts(), wantCounts)
		}
		got := strings.Split(strings.TrimSpace(report.String()), "\n")
		if len(got) != len(wantReport) {
			t.Fatalf("report:\n%s\nwant %d lines", report.String(), len(wantReport))
		}
		for i, w := range wantReport {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("report line %d: %q, want it to start %q", i, got[i], w)
			}
		}
		if to != nil && wantCodes != "" && !strings.HasPrefix(to.codes(), wantCodes) {
			t.Errorf("created %s, want %s...", to.codes(), wantCodes)
		}
	}
	existing := func() *fakeStore {
		return &fakeStore{links: []*store.Link{{Code: "x", Destination: "https://x.example/"}}}
	}
	report := []string{`line 3: code b: destination: `, `line 5: code a: the same code and domain as line 2`, `line 7: code x: link "x" already exists`}
	cfg := DefaultImportConfig()
	f(cfg, existing(), Counts{Rows: 6, Imported: 3, Failed: 3}, "x,a,c,", report...)
	// Chunks of two: failures still in line order.
	cfg.Chunk = 2
	f(cfg, existing(), Counts{Rows: 6, Imported: 3, Failed: 3}, "x,a,c,", report...)
	// Atomic chunks of two: a failed row keeps its chunk out, here every
	// chunk.
	cfg.Atomic = true
	f(cfg, existing(), Counts{Rows: 6, Imported: 0, Failed: 3, Skipped: 3}, "x", report...)
	// A dry run validates only; the store's conflict is not seen.
	f(DefaultImportConfig(), nil, Counts{Rows: 6, Imported: 4, Failed: 2}, "", report[:2]...)
	// The destination policy is applied to every row.
	cfg = DefaultImportConfig()
	deny, err := store.ParseDenyList([]string{"c.example"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy = &store.DestinationPolicy{Deny: deny}
	f(cfg, existing(), Counts{Rows: 6, Imported: 2, Failed: 4}, "x,a,", report[0], `line 4: code c: destination: host "c.example" is denied`, report[1], report[2])
}

func TestImportStops(t *testing.T) {
	// A syntax error: the rows before it are imported, the rest not read.
	to := &fakeStore{}
	var report bytes.Buffer
	im := NewImporter(DefaultImportConfig(), to, &report)
	err := im.Run(context.Background(), mustSource(t, "code,destination\na,https://a/\nb,\"https://b/\nc,https://c/\n", CSV))
	if err == nil || err.Error() != "line 3: the rest of the file was not read" || to.codes() != "a" {
		t.Fatalf("syntax error: %v, created %s", err, to.codes())
	}
	if !strings.HasPrefix(report.String(), "line 3: invalid CSV") {
		t.Errorf("report %q", report.String())
	}
	// A failed call stops the import, naming the lines of its chunk.
	to = &fakeStore{fail: errors.New("boom")}
	im = NewImporter(ImportConfig{Chunk: 1}, to, &report)
	err = im.Run(context.Background(), mustSource(t, `{"code":"a","destination":"https://a/"}`+"\n"+`{"code":"b","destination":"https://b/"}`+"\n", JSONL))
	if err == nil || err.Error() != "lines 1-1: cannot create links, the import stopped there: boom" || to.calls != 1 {
		t.Fatalf("failed call: %v after %d calls", err, to.calls)
	}
}

func TestExport(t *testing.T) {
	from := &fakeStore{links: []*store.Link{
		{Code: "a", Destination: "https://a/?x=1&y=2", Status: 302, Tags: []string{"t"}},
		{Code: "b", Destination: "https://b/", Status: 301},
	}}
	var b bytes.Buffer
	n, err := Export(context.Background(), from, "t", CSV, &b)
	if err != nil || n != 1 || !strings.HasSuffix(b.String(), "\na,,https://a/?x=1&y=2,302,false,,false,t,,,,,,,,false,,false,0,,\n") {
		t.Fatalf("CSV: %d, %v\n%s", n, err, b.String())
	}
	b.Reset()
	if n, err = Export(context.Background(), from, "", JSONL, &b); err != nil || n != 2 {
		t.Fatalf("JSON lines: %d, %v", n, err)
	}
	src := mustSource(t, b.String(), JSONL)
	for i := range from.links {
		l, _, rowErr, err := src.Next()
		if err != nil || rowErr != nil || !reflect.DeepEqual(l, from.links[i]) {
			t.Fatalf("line %d: %+v %v %v", i+1, l, rowErr, err)
		}
	}
	stop := errors.New("stop")
	_, err = Export(context.Background(), listerFunc(func(fn func(*store.Link, json.RawMessage) error) error {
		fn(&store.Link{Code: "a"}, json.RawMessage(`{"code":"a"}`))
		return stop
	}), "", JSONL, &b)
	if !errors.Is(err, stop) || err.Error() != "export stopped after 1 links: stop" {
		t.Fatalf("stopped: %v", err)
	}
}

type listerFunc func(fn func(*store.Link, json.RawMessage) error) error

func (f listerFunc) ForEachLink(_ context.Context, _ string, fn func(*store.Link, json.RawMessage) error) error {
	return f(fn)
}

type fakeRestorer struct{ calls [][]*store.Link }

func (f *fakeRestorer) RestoreLinks(_ context.Context, links []*store.Link) (uint64, error) {
	f.calls = append(f.calls, append([]*store.Link(nil), links...))
	top := uint64(0)
	for _, l := range links {
		top = max(top, l.Version)
	}
	return top, nil
}

func TestRestore(t *testing.T) {
	var sb strings.Builder
	for i := range restoreChunk + 1 {
		fmt.Fprintf(&sb, `{"code":"c%d","destination":"https://example.com/","status":302,"version":%d}`+"\n", i, i+1)
	}
	src, _ := NewSource(strings.NewReader(sb.String()), JSONL, true)
	r := &fakeRestorer{}
	var report bytes.Buffer
	n, top, err := Restore(context.Background(), r, src, &report)
	if err != nil || n != restoreChunk+1 || top != restoreChunk+1 || len(r.calls) != 2 || report.Len() != 0 {
		t.Fatalf("restored %d, top %d, %v, %d calls, report %q", n, top, err, len(r.calls), report.String())
	}
	// A bad row: reported, and nothing more is written.
	src, _ = NewSource(strings.NewReader(`{"code":"a","destination":"https://a/","status":302}`+"\n"+`{"code":"b","destination":"nope","status":302}`+"\n"), JSONL, true)
	r = &fakeRestorer{}
	report.Reset()
	_, _, err = Restore(context.Background(), r, src, &report)
	if err == nil || !strings.HasPrefix(err.Error(), "1 rows failed: the dataset was not restored") || len(r.calls) != 0 || !strings.HasPrefix(report.String(), "line 2: ") {
		t.Fatalf("bad row: %v, %d calls, report %q", err, len(r.calls), report.String())
	}
	// A repeated code is named as such, not as an internal error.
	src, _ = NewSource(strings.NewReader(`{"code":"a","destination":"https://a/","status":302}`+"\n"+`{"code":"a","destination":"https://b/","status":302}`+"\n"), JSONL, true)
	report.Reset()
	_, _, err = Restore(context.Background(), &fakeRestorer{}, src, &report)
	if err == nil || report.String() != "line 2: the same code and domain as line 1\n" {
		t.Fatalf("repeated row: %v, report %q", err, report.String())
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		flag, name string
		def        Format
		want       Format
		wantErr    string
	}{
		{"jsonl", "links.csv", "", JSONL, ""},
		{"", "links.NDJSON", "", JSONL, ""},
		{"", "links.csv", JSONL, CSV, ""},
		{"", "-", CSV, CSV, ""},
		{"", "links.txt", "", "", `cannot tell the format of "links.txt"`},
		{"xml", "links.csv", CSV, "", `--format "xml": want csv or jsonl`},
	} {
		got, err := ParseFormat(tc.flag, tc.name, tc.def)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseFormat(%q, %q, %q) = %q, %v; want an error with %q", tc.flag, tc.name, tc.def, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseFormat(%q, %q, %q) = %q, %v; want %q", tc.flag, tc.name, tc.def, got, err, tc.want)
		}
	}
}

// TestExportFileReplacesOnlyWhenComplete: a failed export leaves the old
// file and no temporary file; a complete one replaces it.
func TestExportFileReplacesOnlyWhenComplete(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "links.jsonl")
	if err := os.WriteFile(name, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	_, err := ExportFile(context.Background(), listerFunc(func(fn func(*store.Link, json.RawMessage) error) error {
		fn(&store.Link{Code: "a", Destination: "https://a/"}, nil)
		return stop
	}), "", JSONL, name)
	if !errors.Is(err, stop) {
		t.Fatalf("ExportFile = %v, want %v", err, stop)
	}
	if b, _ := os.ReadFile(name); string(b) != "old\n" {
		t.Fatalf("a failed export changed the file: %q", b)
	}
	from := &fakeStore{links: []*store.Link{{Code: "a", Destination: "https://a/", Status: 302}}}
	if n, err := ExportFile(context.Background(), from, "", JSONL, name); err != nil || n != 1 {
		t.Fatalf("ExportFile = %d, %v", n, err)
	}
	b, _ := os.ReadFile(name)
	if !strings.Contains(string(b), `"code":"a"`) {
		t.Fatalf("exported file: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left in the directory: %v", entries)
	}
}

// TestImportProgress: Progress sees the counts after every chunk.
func TestImportProgress(t *testing.T) {
	var seen []Counts
	im := NewImporter(ImportConfig{Chunk: 2, Progress: func(c Counts) { seen = append(seen, c) }}, &fakeStore{}, io.Discard)
	src := mustSource(t, "code,destination\na,https://a.example/\nb,https://b.example/\nc,not-a-url\n", CSV)
	if err := im.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Rows != 2 || seen[0].Imported != 2 || seen[1].Rows != 3 || seen[1].Failed != 1 {
		t.Fatalf("progress %+v", seen)
	}
}

// updatingStore is a fakeStore that can update (an upsert's target).
type updatingStore struct {
	fakeStore
	updated []string
}

func (u *updatingStore) UpdateLink(_ context.Context, l *store.Link) error {
	for i, have := range u.links {
		if have.Key() == l.Key() {
			u.links[i] = l
			u.updated = append(u.updated, l.Code)
			return nil
		}
	}
	return store.Errorf(store.ENOTFOUND, "no link %q", l.Code)
}

// TestImportUpsert: with Upsert, rows whose code exists update the link
// instead of failing; without it they fail.
func TestImportUpsert(t *testing.T) {
	to := &updatingStore{fakeStore: fakeStore{links: []*store.Link{{Code: "a", Destination: "https://old.example/"}}}}
	data := "code,destination\na,https://new.example/\nb,https://b.example/\n"
	im := NewImporter(ImportConfig{Chunk: 10, Upsert: true}, to, io.Discard)
	if err := im.Run(context.Background(), mustSource(t, data, CSV)); err != nil {
		t.Fatal(err)
	}
	if c := im.Counts(); c.Imported != 1 || c.Updated != 1 || c.Failed != 0 || to.links[0].Destination != "https://new.example/" || to.codes() != "a,b" {
		t.Fatalf("upsert: counts %+v, links %s, a -> %s", c, to.codes(), to.links[0].Destination)
	}
	again := NewImporter(ImportConfig{Chunk: 10}, to, io.Discard)
	if err := again.Run(context.Background(), mustSource(t, data, CSV)); err != nil {
		t.Fatal(err)
	}
	if c := again.Counts(); c.Failed != 2 || c.Updated != 0 {
		t.Fatalf("without upsert: %+v", c)
	}
}
