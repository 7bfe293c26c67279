package linkfile

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/storetest"
)

func ptime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// testLinks use every field, with cells that need quoting.
func testLinks() []*store.Link {
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return []*store.Link{
		{Code: "plain", Destination: "https://example.com/", Status: 302},
		{
			Code: "full", Domain: "go.example.com", Destination: "https://example.com/a,b?x=1&y=\"q\"", Status: 307,
			ForwardQuery: true, QueryPrecedence: store.QueryScanWins, Disabled: true, Tags: []string{"campaign:spring", "print"},
			Rules: []store.Rule{
				{When: store.Match{Device: []string{"ios"}, Country: []string{"DE", "AT"}}, Destination: "https://apps.apple.com/app?id=1&lang=de"},
				{When: store.Match{Query: map[string]string{"src": "qr", "b": "*"}, Header: map[string]string{"X-A": "1,2"}, Cookie: map[string]string{"c": `"v"`}}, Destination: "https://example.com/q"},
				{When: store.Match{Lang: []string{"fr"}}, Destination: "https://example.com/fr\nnot-a-url"},
			},
			Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 3}, {Name: "b", Destination: "https://b.example/?x=1,2", Weight: 1}},
			Schedule: &store.Schedule{NotBefore: ptime("2025-04-01T00:00:00Z"), BeforeURL: "https://example.com/soon", NotAfter: ptime("2025-05-01T00:00:00Z")},
			Version:  42, CreatedAt: created, UpdatedAt: created.Add(time.Hour),
		},
		{Code: "sched-only", Domain: "x.example", Destination: "https://example.com/s", Status: 301, Schedule: &store.Schedule{NotAfter: ptime("2030-01-01T00:00:00Z"), AfterURL: "https://example.com/gone"}},
		{Code: "limited", Destination: "https://example.com/l", Status: 302, Title: "Poster, Black Friday", Notes: "two\nlines; \"quoted\"",
			GoneURL: "https://example.com/sold-out", MaxScans: 1000, MaxScansIncludeBots: true, PasswordHash: store.HashPassword("open sesame"),
			Rules: []store.Rule{{Name: "ios", When: store.Match{Device: []string{"ios"}}, Destination: "https://example.com/ios"}}},
	}
}

func writeAll(t testing.TB, links []*store.Link) []byte {
	t.Helper()
	var b bytes.Buffer
	writeLinks(t, NewCSVWriter(&b), links)
	return b.Bytes()
}

// writeLinks writes links with w and flushes it.
func writeLinks(t testing.TB, w interface {
	Write(*store.Link) error
	Flush() error
}, links []*store.Link) {
	t.Helper()
	for _, l := range links {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every row, returning links, row errors and the fatal
// error.
func readAll(t testing.TB, data string) ([]*store.Link, []*RowError, error) {
	t.Helper()
	r, err := NewCSVReader(strings.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var (
		links []*store.Link
		rows  []*RowError
	)
	err = readEach(r.Read, func(l *store.Link) { links = append(links, l) }, func(re *RowError, l *store.Link) {
		if l == nil {
			t.Fatalf("row error %v without a link", re)
		}
		rows = append(rows, re)
	})
	return links, rows, err
}

func TestCSVRoundTrip(t *testing.T) {
	links := testLinks()
	data := writeAll(t, links)
	got, rows, err := readAll(t, string(data))
	if err != nil || len(rows) > 0 {
		t.Fatalf("read: %v %v\n%s", err, rows, data)
	}
	want := storetest.Unstamped(links)
	if !reflect.DeepEqual(got, want) {
		for i := range want {
			t.Errorf("link %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Written cells: header, booleans, tags, compact JSON without HTML
	// escaping, times in UTC.
	for _, s := range []string{
		"code,domain,destination,status,forward_query,query_precedence,disabled,tags,rules,variants,schedule,title,notes,gone_url,max_scans,max_scans_include_bots,password_hash,password_protected,version,created_at,updated_at\n",
		"plain,,https://example.com/,302,false,,false,,,,,,,,,false,,false,0,,\n",
		`campaign:spring print,`,
		`"[{""when"":{""device"":[""ios""],""country"":[""DE"",""AT""]},""destination"":""https://apps.apple.com/app?id=1&lang=de""}`,
		",,,,,false,,false,42,2025-03-01T12:00:00.123456789Z,2025-03-01T13:00:00.123456789Z\n",
	} {
		if !bytes.Contains(data, []byte(s)) {
			t.Errorf("output lacks %q:\n%s", s, data)
		}
	}
}

func TestCSVWriteEmpty(t *testing.T) {
	if got := string(writeAll(t, nil)); got != strings.Join(CSVColumns, ",")+"\n" {
		t.Fatalf("got %q", got)
	}
	links, rows, err := readAll(t, string(writeAll(t, nil)))
	if len(links) != 0 || len(rows) != 0 || err != nil {
		t.Fatal(links, rows, err)
	}
}

func TestCSVRead(t *testing.T) {
	f := func(data string, want ...*store.Link) {
		t.Helper()
		got, rows, err := readAll(t, data)
		if err != nil || len(rows) > 0 {
			t.Fatalf("%q: %v %v", data, err, rows)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", data, got, want)
		}
	}
	d := func(code, dest string) *store.Link { return &store.Link{Code: code, Destination: dest} }
	f("destination\nhttps://a.example/\n", d("", "https://a.example/"))
	// CSVColumns in any order, case and spaces in the header.
	f(" Destination ,CODE\nhttps://a.example/,a\n", d("a", "https://a.example/"))
	// BOM, CRLF, empty lines, no final newline.
	f("\xEF\xBB\xBFcode,destination\r\na,https://a.example/\r\n\r\n\r\nb,https://b.example/", d("a", "https://a.example/"), d("b", "https://b.example/"))
	// Quoting: commas, quotes and newlines in cells; cells trimmed.
	f("code,destination,tags\n\" q \",\"https://a.example/?x=1,2\",\"a, b\nc\"\n",
		&store.Link{Code: "q", Destination: "https://a.example/?x=1,2", Tags: []string{"a", "b", "c"}})
	f("code,destination\n\"say \"\"hi\"\"\",https://a.example/\n", d(`say "hi"`, "https://a.example/"))
	// Read-only columns are ignored, whatever they hold.
	f("code,destination,version,created_at,updated_at,short_url,qr_url\na,https://a.example/,x,y,z,https://s/a,https://s/a.png\n", d("a", "https://a.example/"))
	// Booleans, status, empty JSON cells.
	f("code,destination,status,forward_query,disabled,rules,variants,schedule\na,https://a.example/,,YES,1,,[],null\n",
		&store.Link{Code: "a", Destination: "https://a.example/", ForwardQuery: true, Disabled: true})
	f("code,destination,status,forward_query,disabled\na,https://a.example/, 301 ,No,0\n",
		&store.Link{Code: "a", Destination: "https://a.example/", Status: 301})
	// ';' between cells, as spreadsheets write CSV in many locales: a
	// header with ';' and no ','.
	f("code;destination;tags\na;https://a.example/?x=1,2;\"t1, t2\"\n",
		&store.Link{Code: "a", Destination: "https://a.example/?x=1,2", Tags: []string{"t1", "t2"}})
	f("\xEF\xBB\xBFCode;Destination\r\nb;https://b.example/\r\n", d("b", "https://b.example/"))
	// Only the header.
	f("destination\n")
	f("destination\r\n\r\n")
}

func TestCSVHeaderErrors(t *testing.T) {
	f := func(data, want string) {
		t.Helper()
		_, err := NewCSVReader(strings.NewReader(data))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: error %v, want it to contain %q", data, err, want)
		}
	}
	f("", "header row")
	f("\xEF\xBB\xBF", "header row")
	f("\n\n", "header row")
	f("code,url\n", `unknown column "url"`)
	f("code,domain\n", "destination column is required")
	f("code,destination,Code\n", `column "code" appears twice (columns 1 and 3)`)
	f("code,destination,\n", "column 3 has no name")
	f("code,\"destination\n", "cannot read the CSV header")
}

func TestCSVRowErrors(t *testing.T) {
	type row struct {
		index, line int
		fields      string
	}
	f := func(data string, goodCodes string, want ...row) {
		t.Helper()
		links, rows, err := readAll(t, data)
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		var codes []string
		for _, l := range links {
			codes = append(codes, l.Code)
		}
		if strings.Join(codes, " ") != goodCodes {
			t.Errorf("%q: good rows %q, want %q", data, codes, goodCodes)
		}
		if len(rows) != len(want) {
			t.Fatalf("%q: row errors %v, want %v", data, rows, want)
		}
		for i, w := range want {
			r := rows[i]
			if r.Index != w.index || r.Line != w.line || !strings.Contains(r.Error(), w.fields) {
				t.Errorf("%q: row error %d: index %d line %d %q, want %+v", data, i, r.Index, r.Line, r.Error(), w)
			}
		}
	}
	f("code,destination,status\na,https://a/,x\nb,https://b/,302\n", "b", row{0, 2, `line 2: status: must be a number, such as 302, got "x"`})
	f("code,destination,disabled\na,https://a/,maybe\n", "", row{0, 2, `disabled: must be true or false`})
	f("code,destination,forward_query,disabled\na,https://a/,2,nope\n", "", row{0, 2, `forward_query: must be true or false (or 1/0, yes/no), got "2"; disabled:`})
	// Too few and too many cells; the quoted newline makes the next row
	// start on line 5.
	f("code,destination\r\na\r\nb,https://b/,extra\r\n\"c\nc\",https://c/\r\nd,https://d/\r\n", "c\nc d",
		row{0, 2, "line 2: the row has 1 cells, the header 2"}, row{1, 3, "line 3: the row has 3 cells, the header 2"})
	f("code,destination,rules\na,https://a/,\"[{\"\"when\"\":{\"\"device\"\":[\"\"ios\"\"]},\"\"destination\"\":1}]\"\n", "", row{0, 2, "rules[0].destination: must be a string, got a number"})
	f("code,destination,rules\na,https://a/,\"[{\"\"when\"\":{},\"\"dest\"\":\"\"x\"\"}]\"\n", "", row{0, 2, `rules[0].dest: unknown field; the fields here are destination, name, when`})
	f("code,destination,rules\na,https://a/,[{\n", "", row{0, 2, "rules: malformed JSON at byte 2: unexpected end of JSON input"})
	f("code,destination,rules\na,https://a/,{}\n", "", row{0, 2, "rules: must be an array, got an object"})
	f("code,destination,rules\na,https://a/,[] []\n", "", row{0, 2, "rules: malformed JSON at byte 4: invalid character '[' after top-level value"})
	f("code,destination,variants\na,https://a/,[{name:1}]\n", "", row{0, 2, `variants: malformed JSON at byte`})
	f("code,destination,schedule\na,https://a/,[]\n", "", row{0, 2, "schedule: must be an object, got an array"})
	f("code,destination,schedule\na,https://a/,\"{\"\"not_before\"\":\"\"soon\"\"}\"\n", "", row{0, 2, `schedule.not_before: must be an RFC 3339 time such as 2026-11-27T12:00:00Z, got "soon"`})
	// Keys are case-sensitive and given once; every value at fault is
	// named by its path.
	f("code,destination,variants\na,https://a/,\"[{\"\"destination\"\":\"\"https://b/\"\",\"\"Weight\"\":1},{\"\"weight\"\":1.5,\"\"weight\"\":2}]\"\n", "",
		row{0, 2, `variants[0].Weight: unknown field: keys are case-sensitive: did you mean "weight"?; variants[1].weight: must be a whole number, got 1.5; variants[1].weight: given twice`})
}

func TestCSVSyntaxErrorIsFatal(t *testing.T) {
	data := "code,destination\na,https://a/\nb,https://b/\"x\nc,https://c/\n"
	r, err := NewCSVReader(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := r.Read(); err != nil || l.Code != "a" || r.Line() != 2 {
		t.Fatal(l, err, r.Line())
	}
	for i := 0; i < 2; i++ {
		_, err := r.Read()
		var re *RowError
		if err == nil || errors.As(err, &re) || err == io.EOF || !strings.Contains(err.Error(), "line 3") || r.Line() != 3 {
			t.Fatalf("read %d: %v, line %d", i, err, r.Line())
		}
	}
	// An unterminated quoted cell swallows the rest: the error names the
	// line where the row started.
	r, _ = NewCSVReader(strings.NewReader("code,destination\na,https://a/\nb,\"https://b/\nc,https://c/\n"))
	r.Read()
	if _, err := r.Read(); err == nil || !strings.Contains(err.Error(), "record on line 3") || r.Line() != 3 {
		t.Fatalf("%v, line %d", err, r.Line())
	}
}

func TestCSVWriteError(t *testing.T) {
	bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	w := NewCSVWriter(io.Discard)
	if err := w.Write(&store.Link{Code: "x", Schedule: &store.Schedule{NotAfter: &bad}}); err == nil || !strings.Contains(err.Error(), `link "x": schedule:`) {
		t.Fatal(err)
	}
}

// TestCSVPasswordProtected: a row exported through the API says
// password_protected without the hash; importing it without a password
// is refused, so the protection is never dropped on the way.
func TestCSVPasswordProtected(t *testing.T) {
	var b bytes.Buffer
	w := NewCSVWriter(&b)
	if err := w.WriteProtected(&store.Link{Code: "vip", Destination: "https://example.com/", Status: 302}, true); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	links, rows, err := readAll(t, b.String())
	if err != nil || len(links) != 0 || len(rows) != 1 || rows[0].Fields[0].Field != "password" {
		t.Fatalf("links %v, rows %v, err %v\n%s", links, rows, err, b.String())
	}
	data := strings.Replace(b.String(), "password_hash,password_protected", "password,password_protected", 1)
	data = strings.Replace(data, ",,true,", ",open sesame,true,", 1)
	if links, rows, err := readAll(t, data); err != nil || len(rows) != 0 || len(links) != 1 || links[0].Password != "open sesame" {
		t.Fatalf("with a password: %v %v %v\n%s", links, rows, err, data)
	}
}
