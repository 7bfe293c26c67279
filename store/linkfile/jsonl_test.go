package linkfile

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/storetest"
)

func writeJSONL(t testing.TB, links []*store.Link) []byte {
	t.Helper()
	var b bytes.Buffer
	writeLinks(t, NewJSONLWriter(&b), links)
	return b.Bytes()
}

// readJSONL reads every line, returning links, line errors and the
// fatal error.
func readJSONL(t testing.TB, data string, keep bool) ([]*store.Link, []*LineError, error) {
	t.Helper()
	r := NewJSONLReader(strings.NewReader(data), keep)
	var (
		links []*store.Link
		lines []*LineError
	)
	err := readEach(r.Read, func(l *store.Link) { links = append(links, l) }, func(le *LineError, l *store.Link) {
		if l == nil {
			t.Fatalf("line error %v without a link", le)
		}
		if le.Line != r.Line() {
			t.Fatalf("line error on line %d, Line() %d", le.Line, r.Line())
		}
		lines = append(lines, le)
	})
	return links, lines, err
}

func TestJSONLRoundTrip(t *testing.T) {
	links := testLinks()
	data := writeJSONL(t, links)
	if n := bytes.Count(data, []byte("\n")); n != len(links) {
		t.Fatalf("%d lines for %d links:\n%s", n, len(links), data)
	}
	if !bytes.Contains(data, []byte(`"https://apps.apple.com/app?id=1&lang=de"`)) {
		t.Errorf("URLs are escaped:\n%s", data)
	}
	got, bad, err := readJSONL(t, string(data), false)
	if err != nil || len(bad) > 0 {
		t.Fatalf("read: %v %v\n%s", err, bad, data)
	}
	if want := storetest.Unstamped(links); !reflect.DeepEqual(got, want) {
		t.Fatalf("without server fields:\n got %+v\nwant %+v", got, want)
	}
	// Kept for a restore: version and times too (compared as JSON, which
	// compares times by instant and offset).
	got, bad, err = readJSONL(t, string(data), true)
	if err != nil || len(bad) > 0 {
		t.Fatalf("read with server fields: %v %v", err, bad)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(links)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("with server fields:\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestJSONLRead(t *testing.T) {
	// A byte order mark, blank lines, CRLF, and the fields of an API
	// answer (short_url, qr_url) are all taken.
	data := "\xEF\xBB\xBF{\"code\":\"a\",\"destination\":\"https://a.example/\"}\r\n\n   \n" +
		`{"code":"b","destination":"https://b.example/","short_url":"https://go.example/b","qr_url":"x","version":3}` + "\n"
	got, bad, err := readJSONL(t, data, false)
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	want := []*store.Link{{Code: "a", Destination: "https://a.example/"}, {Code: "b", Destination: "https://b.example/"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got, _, _ = readJSONL(t, data, true)
	if got[1].Version != 3 {
		t.Fatalf("version %d kept, want 3", got[1].Version)
	}
}

func TestJSONLLineErrors(t *testing.T) {
	f := func(line string, keep bool, wantMsg string) {
		t.Helper()
		data := line + "\n" + `{"code":"ok","destination":"https://ok.example/"}` + "\n"
		links, bad, err := readJSONL(t, data, keep)
		if err != nil {
			t.Fatalf("%s: fatal %v", line, err)
		}
		if len(bad) != 1 || bad[0].Line != 1 {
			t.Fatalf("%s: line errors %v, want one on line 1", line, bad)
		}
		if got := store.ErrorMessage(bad[0]); !strings.Contains(got, wantMsg) {
			t.Errorf("%s: message %q, want it to hold %q", line, got, wantMsg)
		}
		if len(links) != 1 || links[0].Code != "ok" {
			t.Errorf("%s: the next line was not read: %+v", line, links)
		}
	}
	f(`["not", "an", "object"]`, false, "want a JSON object, one link a line")
	f(`{"code":"x","Destination":"https://a/"}`, false, "Destination")
	f(`{"code":"x","destination":"https://a/"`, false, "malformed JSON")
	f(`{"code":"x","destination":"https://a/","status":"302"}`, false, "status")
	f(`{"code":"x","destination":"https://a/","version":"seven"}`, true, "invalid JSON: version")
	// Dropped fields are not decoded: any value passes.
	if _, bad, _ := readJSONL(t, `{"code":"x","destination":"https://a/","version":"seven"}`, false); len(bad) != 0 {
		t.Errorf("a dropped version was judged: %v", bad)
	}
	// The link of a bad line names its code, for messages.
	r := NewJSONLReader(strings.NewReader(`{"code":"named","destination":7}`), false)
	if l, err := r.Read(); err == nil || l == nil || l.Code != "named" {
		t.Errorf("got %+v, %v; want the link named by its code and an error", l, err)
	}
}

func TestJSONLLineTooLong(t *testing.T) {
	data := `{"code":"a","destination":"https://a/"}` + "\n" + strings.Repeat("x", MaxJSONLine+1) + "\n"
	links, _, err := readJSONL(t, data, false)
	if len(links) != 1 || err == nil || !strings.Contains(err.Error(), "cannot read line 2") {
		t.Fatalf("links %d, err %v; want 1 and a fatal error on line 2", len(links), err)
	}
}

func TestJSONLWriteRaw(t *testing.T) {
	var b bytes.Buffer
	w := NewJSONLWriter(&b)
	w.WriteRaw(json.RawMessage(`{"code":"a","short_url":"https://go.example/a"}`))
	w.Write(&store.Link{Code: "b", Destination: "https://b/?x=1&y=2"})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"code":"a","short_url":"https://go.example/a"}` + "\n" +
		`{"code":"b","destination":"https://b/?x=1&y=2","status":0,"forward_query":false,"disabled":false,"created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","version":0}` + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// FuzzReadJSONL: reading never panics, and the links read write back into
// JSON lines that read again, without errors, to the same links.
func FuzzReadJSONL(f *testing.F) {
	f.Add(string(writeJSONL(f, testLinks())))
	for _, s := range []string{
		"\xEF\xBB\xBF{\"destination\":\"https://a.example/\"}\r\n\r\n",
		`{"code":"a","destination":"https://a/","rules":[{"when":{"query":{}},"destination":"x"}]}`,
		`{"code":"a","destination":"https://a/","variants":[{"weight":1.5}]}`,
		`{"code":"a","code":"b"}`,
		"[]\n{}\nnull\n",
		`{"code":"a","destination":"https://a/","version":1,"created_at":"x"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, keep := range []bool{false, true} {
			links := goodLinks[*LineError](NewJSONLReader(strings.NewReader(data), keep).Read)
			back, bad, err := readJSONL(t, string(writeJSONL(t, links)), keep)
			if err != nil || len(bad) > 0 {
				t.Fatalf("reading back: %v %v", err, bad)
			}
			if len(back) != len(links) {
				t.Fatalf("wrote %d links, read back %d", len(links), len(back))
			}
			for i := range links {
				want, _ := json.Marshal(links[i])
				got, _ := json.Marshal(back[i])
				if !bytes.Equal(got, want) {
					t.Fatalf("line %d changed:\n got %s\nwant %s", i, got, want)
				}
			}
		}
	})
}

// TestJSONLPasswordProtected: a line exported through the API says
// password_protected without the hash; importing it must not drop the
// protection silently.
func TestJSONLPasswordProtected(t *testing.T) {
	hash := store.HashPassword("open sesame")
	data := `{"code":"a","destination":"https://a.example/","password_protected":true}` + "\n" +
		`{"code":"b","destination":"https://b.example/","password_protected":true,"password":"open sesame"}` + "\n" +
		`{"code":"c","destination":"https://c.example/","password_protected":true,"password_hash":"` + hash + `"}` + "\n" +
		`{"code":"d","destination":"https://d.example/","password_protected":false}` + "\n"
	r := NewJSONLReader(strings.NewReader(data), false)
	var codes []string
	for {
		l, err := r.Read()
		if err != nil && l == nil {
			break
		}
		if err != nil {
			if fe := store.ErrorFields(err); l.Code != "a" || len(fe) != 1 || fe[0].Field != "password" {
				t.Fatalf("line %d: %v", r.Line(), err)
			}
			continue
		}
		codes = append(codes, l.Code)
		if l.Code == "b" && l.Password != "open sesame" || l.Code == "c" && l.PasswordHash != hash {
			t.Fatalf("%s: password %q hash %q", l.Code, l.Password, l.PasswordHash)
		}
	}
	if strings.Join(codes, " ") != "b c d" {
		t.Fatalf("read %v, want b c d", codes)
	}
}
