package linkio

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
)

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
