package linkfile

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// FuzzReadCSV: reading never panics, and the links read write back into a
// CSV that reads again, without errors, to the same links.
func FuzzReadCSV(f *testing.F) {
	var full bytes.Buffer
	w := NewCSVWriter(&full)
	for _, l := range testLinks() {
		w.Write(l)
	}
	w.Flush()
	for _, s := range []string{
		full.String(),
		"destination\nhttps://a.example/\n",
		"\xEF\xBB\xBFcode,destination\r\na,https://a.example/\r\n\r\n",
		"code,destination,tags\n\" q \",\"https://a.example/?x=1,2\",\"a, b\nc\"\n",
		"code,destination\na\nb,https://b/,extra\n",
		"code,destination,status,forward_query,disabled\na,https://a/,x,maybe,2\n",
		"code,destination,rules\na,https://a/,\"[{\"\"when\"\":{\"\"query\"\":{}},\"\"destination\"\":\"\"x\"\"}]\"\n",
		"code,destination,schedule\na,https://a/,\"{\"\"not_before\"\":\"\"2025-01-01T00:00:00+02:00\"\"}\"\n",
		"code,destination,variants\na,https://a/,[]\n",
		"code,destination\na,https://b/\"x\n",
		"code,url\n",
		"destination,version,created_at,updated_at,short_url,qr_url\nx,1,2,3,4,5\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		r, err := NewCSVReader(bytes.NewReader([]byte(data)))
		if err != nil {
			return
		}
		links := goodLinks[*RowError](r.Read)
		var b bytes.Buffer
		w := NewCSVWriter(&b)
		for _, l := range links {
			if err := w.Write(l); err != nil {
				t.Fatalf("cannot write %+v: %v", l, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		r, err = NewCSVReader(&b)
		if err != nil {
			t.Fatalf("cannot read what was written: %v\n%q", err, b.String())
		}
		for i := 0; ; i++ {
			l, err := r.Read()
			if err == io.EOF {
				if i != len(links) {
					t.Fatalf("wrote %d links, read back %d", len(links), i)
				}
				return
			}
			if err != nil {
				t.Fatalf("reading back row %d: %v\n%q", i, err, b.String())
			}
			if i >= len(links) {
				t.Fatalf("read back more links than the %d written", len(links))
			}
			// JSON compares nil and empty maps and lists alike (the writer
			// drops empty ones) and time zones by offset.
			want, _ := json.Marshal(links[i])
			got, _ := json.Marshal(l)
			if !bytes.Equal(got, want) {
				t.Fatalf("row %d changed:\n got %s\nwant %s", i, got, want)
			}
		}
	})
}
