package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
	"github.com/qredge/qredge/store/redisstore"
	"github.com/qredge/qredge/store/storetest"
)

// linksFixture returns validated links using every field, including two
// links with the same code on different domains.
func linksFixture(t testing.TB) []*store.Link {
	t.Helper()
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	links := []*store.Link{
		{Code: "plain", Destination: "https://example.com/plain"},
		{
			Code: "full", Destination: "https://example.com/a,b?x=1,2&y=%22q%22", Status: 307, ForwardQuery: true,
			QueryPrecedence: store.QueryScanWins, Tags: []string{"print", "campaign:spring"},
			Rules: []store.Rule{
				{When: store.Match{Device: []string{"ios"}, Country: []string{"DE", "AT"}}, Destination: "https://apps.apple.com/app?id=1&l=de"},
				{When: store.Match{Query: map[string]string{"src": "qr", "b": "*"}, Header: map[string]string{"X-A": "1,2"}, Cookie: map[string]string{"c": `"v"`}}, Destination: "https://example.com/q"},
			},
			Variants: []store.Variant{{Name: "a", Destination: "https://a.example/", Weight: 3}, {Name: "b", Destination: "https://b.example/?x=1,2", Weight: 1}},
			Schedule: &store.Schedule{NotBefore: at("2025-04-01T00:00:00Z"), BeforeURL: "https://example.com/soon", NotAfter: at("2035-05-01T00:00:00Z")},
		},
		{Code: "full", Domain: "go.example.com", Destination: "https://example.com/domain", Status: 301, Disabled: true, Tags: []string{"print"}},
		{Code: "later", Destination: "https://example.com/later", Schedule: &store.Schedule{NotAfter: at("2030-01-01T00:00:00Z"), AfterURL: "https://example.com/gone"}},
	}
	for _, l := range links {
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	return links
}

// comparable returns links without the fields the store sets, sorted by
// key.
func comparable(links []*store.Link) []*store.Link {
	out := storetest.Unstamped(links)
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

func allLinks(t testing.TB, ls store.LinkStore) []*store.Link {
	t.Helper()
	var links []*store.Link
	if err := ls.ForEachLink(context.Background(), func(l *store.Link) error {
		links = append(links, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return comparable(links)
}

// dataDirLinks returns the links in a data directory.
func dataDirLinks(t testing.TB, dir string) []*store.Link {
	t.Helper()
	db, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return allLinks(t, db)
}

func mustSeedDataDir(t testing.TB, dir string, links []*store.Link) {
	t.Helper()
	db, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, l := range links {
		if _, err := db.CreateLink(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
}

func mustOpenRedis(t testing.TB, addr, prefix string) *redisstore.Store {
	t.Helper()
	cfg := redisstore.DefaultConfig()
	cfg.Client.Addr, cfg.Prefix = addr, prefix
	s, err := redisstore.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runLinksCmd runs 'qredge links ...' and returns the exit code, stdout
// and stderr.
func runLinksCmd(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"links"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func mustRunLinks(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errb := runLinksCmd(t, args...)
	if code != 0 {
		t.Fatalf("qredge links %s: exit %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, out, errb)
	}
	return out
}

func writeFile(t testing.TB, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLinksRoundTripDataDir(t *testing.T) {
	want := comparable(linksFixture(t))
	src := t.TempDir()
	mustSeedDataDir(t, src, linksFixture(t))
	for _, ext := range []string{"csv", "jsonl"} {
		file := filepath.Join(t.TempDir(), "links."+ext)
		mustRunLinks(t, "export", "--data-dir", src, "--output", file)
		dst := t.TempDir()
		out := mustRunLinks(t, "import", file, "--data-dir", dst)
		if !strings.HasPrefix(out, "imported 4 links, 0 failed, in ") {
			t.Fatalf("%s: summary %q", ext, out)
		}
		if got := dataDirLinks(t, dst); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: imported links differ:\n got %v\nwant %v", ext, got, want)
		}
		// Importing again conflicts on every link; nothing changes.
		code, out, errb := runLinksCmd(t, "import", file, "--data-dir", dst)
		if code != 1 || !strings.HasPrefix(out, "imported 0 links, 4 failed") || !strings.Contains(errb, `code full: link "full" already exists on domain "go.example.com"`) {
			t.Fatalf("%s: second import: %d %q %q", ext, code, out, errb)
		}
	}
	// --tag, and the format by --output's extension.
	file := filepath.Join(t.TempDir(), "print.ndjson")
	mustRunLinks(t, "export", "--data-dir", src, "--tag", "print", "--output", file)
	b, _ := os.ReadFile(file)
	if n := strings.Count(string(b), "\n"); n != 2 || !strings.HasPrefix(string(b), `{"code":"full"`) {
		t.Fatalf("export --tag print: %s", b)
	}
}

func TestLinksRoundTripRedis(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	src := mustOpenRedis(t, srv.Addr(), "src")
	for _, l := range linksFixture(t) {
		if _, err := src.CreateLink(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	want := comparable(linksFixture(t))
	for _, ext := range []string{"csv", "jsonl"} {
		file := filepath.Join(t.TempDir(), "links."+ext)
		mustRunLinks(t, "export", "--redis", srv.Addr(), "--redis-prefix", "src", "--output", file)
		out := mustRunLinks(t, "import", file, "--redis", srv.Addr(), "--redis-prefix", "dst-"+ext)
		if !strings.HasPrefix(out, "imported 4 links, 0 failed, in ") {
			t.Fatalf("%s: summary %q", ext, out)
		}
		if got := allLinks(t, mustOpenRedis(t, srv.Addr(), "dst-"+ext)); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: imported links differ:\n got %v\nwant %v", ext, got, want)
		}
		code, out, errb := runLinksCmd(t, "import", file, "--redis", srv.Addr(), "--redis-prefix", "dst-"+ext)
		if code != 1 || !strings.HasPrefix(out, "imported 0 links, 4 failed") || !strings.Contains(errb, `code plain: link "plain" already exists`) {
			t.Fatalf("%s: second import: %d %q %q", ext, code, out, errb)
		}
	}
}

// badCSV has good rows (lines 2, 4 and 9) among bad ones; the quoted
// newline makes the row of line 7 span two lines.
const badCSV = "code,destination,status\r\n" +
	"good1,https://example.com/1,\r\n" +
	"bad1,https://example.com/2,x\r\n" +
	"good2,https://example.com/3,301\r\n" +
	"bad2,example.com/4,\r\n" +
	"good1,https://example.com/again,\r\n" +
	"\"two\nlines\",https://example.com/5,\r\n" +
	"good3,https://example.com/6,302\r\n" +
	"short,https://example.com/7\r\n"

var badCSVErrors = []string{
	"line 3: code bad1: status: must be a number, such as 302, got \"x\"",
	"line 5: code bad2: destination: must be an absolute URL starting with http:// or https://",
	"line 6: code good1: the same code and domain as line 2",
	"line 7: code \"two\\nlines\": code: invalid character '\\n' at position 3",
	"line 10: code short: the row has 2 cells, the header 3",
}

func TestLinksImportBadRows(t *testing.T) {
	file := writeFile(t, "bad.csv", badCSV)
	check := func(args []string, wantOut string, wantCodes ...string) {
		t.Helper()
		dir := t.TempDir()
		code, out, errb := runLinksCmd(t, append([]string{"import", file, "--data-dir", dir}, args...)...)
		if code != 1 || !strings.HasPrefix(out, wantOut) {
			t.Fatalf("%v: exit %d, stdout %q", args, code, out)
		}
		lines := strings.SplitAfter(errb, "\n")
		for i, w := range badCSVErrors {
			if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
				t.Fatalf("%v: stderr line %d: want %q, stderr:\n%s", args, i, w, errb)
			}
		}
		if !strings.Contains(errb, "qredge links: 5 of 8 rows failed") {
			t.Fatalf("%v: stderr %s", args, errb)
		}
		var codes []string
		for _, l := range dataDirLinks(t, dir) {
			codes = append(codes, l.Code)
		}
		if !reflect.DeepEqual(codes, wantCodes) {
			t.Fatalf("%v: imported %v, want %v", args, codes, wantCodes)
		}
	}
	check(nil, "imported 3 links, 5 failed, in ", "good1", "good2", "good3")
	check([]string{"--chunk", "3"}, "imported 3 links, 5 failed, in ", "good1", "good2", "good3")
	check([]string{"--atomic"}, "imported 0 links, 5 failed, 3 valid ones not imported because their chunk had a failure (--atomic), in ")
	// Every chunk of 2 rows has a failure.
	check([]string{"--atomic", "--chunk", "2"}, "imported 0 links, 5 failed, 3 valid ones not imported")
	code, out, errb := runLinksCmd(t, "import", file, "--dry-run", "--data-dir", filepath.Join(t.TempDir(), "never-created"))
	if code != 1 || !strings.HasPrefix(out, "dry run: 3 links valid, 5 failed, in ") || !strings.HasPrefix(errb, badCSVErrors[0]) {
		t.Fatalf("dry run: %d %q %q", code, out, errb)
	}
}

func TestLinksImportAtomicChunks(t *testing.T) {
	// Chunks of 2 rows: (ok1, ok2) created, (ok3, bad) not, (ok4) created.
	file := writeFile(t, "chunks.csv", "code,destination\nok1,https://a.example/\nok2,https://a.example/\nok3,https://a.example/\nbad,ftp://a.example/\nok4,https://a.example/\n")
	dir := t.TempDir()
	mustSeedDataDir(t, dir, []*store.Link{{Code: "ok4", Destination: "https://old.example/", Status: 302}})
	code, out, errb := runLinksCmd(t, "import", file, "--data-dir", dir, "--atomic", "--chunk", "2")
	if code != 1 || !strings.HasPrefix(out, "imported 2 links, 2 failed, 1 valid ones not imported") ||
		errb != "line 5: code bad: destination: scheme \"ftp\" is not allowed: use http or https\nline 6: code ok4: link \"ok4\" already exists\nqredge links: 2 of 5 rows failed\n" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out, errb)
	}
	var codes []string
	for _, l := range dataDirLinks(t, dir) {
		codes = append(codes, l.Code)
	}
	if strings.Join(codes, " ") != "ok1 ok2 ok4" {
		t.Fatal(codes)
	}
}

func TestLinksImportJSONLines(t *testing.T) {
	data := "\xEF\xBB\xBF" + `{"code":"a","destination":"https://a.example/","version":7,"created_at":"x","short_url":"https://s/a","qr_url":"https://s/a.png"}

{"code":"b","destination":"https://b.example/","colour":"red"}
["not","an","object"]
{"code":"c","destination":"https://c.example/"} {}
{"code":"d","destination":"https://d.example/","tags":["x","x"]}
{"code":"e",
`
	file := writeFile(t, "links.jsonl", data)
	dir := t.TempDir()
	code, out, errb := runLinksCmd(t, "import", file, "--data-dir", dir)
	want := "line 3: code b: colour: unknown field; the fields here are code, created_at, destination, disabled, domain, forward_query, gone_url, max_scans, max_scans_include_bots, notes, password, password_hash, password_protected, qr_url, query_precedence, rules, scan_limit_reached_at, schedule, short_url, status, tags, title, updated_at, variants, version\n" +
		"line 4: invalid JSON: want a JSON object, one link a line\n" +
		"line 5: code c: malformed JSON at byte 49: invalid character '{' after top-level value\n" +
		"line 7: malformed JSON at byte 12: unexpected end of JSON input\n" +
		"qredge links: 4 of 6 rows failed\n"
	if code != 1 || !strings.HasPrefix(out, "imported 2 links, 4 failed") || errb != want {
		t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant   %q", code, out, errb, want)
	}
	got := dataDirLinks(t, dir)
	if len(got) != 2 || got[0].Code != "a" || got[1].Code != "d" || got[0].Version != 0 || !reflect.DeepEqual(got[1].Tags, []string{"x"}) {
		t.Fatalf("%+v", got)
	}
}

func TestLinksImportGeneratesCodes(t *testing.T) {
	file := writeFile(t, "nocode.csv", "destination\nhttps://a.example/\nhttps://a.example/\n")
	dir := t.TempDir()
	mustRunLinks(t, "import", file, "--data-dir", dir)
	got := dataDirLinks(t, dir)
	if len(got) != 2 || len(got[0].Code) != store.GeneratedCodeLen || got[0].Code == got[1].Code {
		t.Fatalf("%+v", got)
	}
}

func TestLinksImportStdin(t *testing.T) {
	f, err := os.Open(writeFile(t, "in", `{"code":"in","destination":"https://a.example/"}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	dir := t.TempDir()
	mustRunLinks(t, "import", "-", "--format", "jsonl", "--data-dir", dir)
	if got := dataDirLinks(t, dir); len(got) != 1 || got[0].Code != "in" {
		t.Fatalf("%+v", got)
	}
}

func TestLinksExportEmpty(t *testing.T) {
	dir := t.TempDir()
	mustSeedDataDir(t, dir, nil)
	if out := mustRunLinks(t, "export", "--data-dir", dir); out != "code,domain,destination,status,forward_query,query_precedence,disabled,tags,rules,variants,schedule,title,notes,gone_url,max_scans,max_scans_include_bots,password_hash,password_protected,version,created_at,updated_at\n" {
		t.Fatalf("csv: %q", out)
	}
	if out := mustRunLinks(t, "export", "--data-dir", dir, "--format", "jsonl"); out != "" {
		t.Fatalf("jsonl: %q", out)
	}
	// An export with nothing re-imports as nothing.
	file := filepath.Join(t.TempDir(), "empty.csv")
	mustRunLinks(t, "export", "--data-dir", dir, "--output", file)
	if out := mustRunLinks(t, "import", file, "--data-dir", dir); !strings.HasPrefix(out, "imported 0 links, 0 failed") {
		t.Fatal(out)
	}
}

func TestLinksCLIErrors(t *testing.T) {
	dir := t.TempDir()
	csvFile := writeFile(t, "x.csv", "destination\nhttps://a.example/\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"import", "--data-dir", dir}, "exactly one FILE"},
		{[]string{"import", csvFile}, "give exactly one of --server URL, --data-dir DIR and --redis ADDR"},
		{[]string{"import", csvFile, "--data-dir", dir, "--redis", "127.0.0.1:1"}, "give exactly one of"},
		{[]string{"import", csvFile, "--api", "http://127.0.0.1:1"}, "--server needs an API key"},
		{[]string{"import", csvFile, "--api", "localhost:8080", "--api-key", "k"}, "want a URL such as"},
		{[]string{"import", csvFile, "--data-dir", dir, "--chunk", "10001"}, "--chunk must be between 1 and 10000"},
		{[]string{"import", csvFile, "--data-dir", dir, "--format", "xml"}, `--format "xml": want csv or jsonl`},
		{[]string{"import", writeFile(t, "x.txt", ""), "--data-dir", dir}, "cannot tell the format"},
		{[]string{"import", "-", "--data-dir", dir}, "give --format csv or --format jsonl to read stdin"},
		{[]string{"import", filepath.Join(dir, "missing.csv"), "--data-dir", dir}, "no such file"},
		{[]string{"import", writeFile(t, "h.csv", "code,url\n"), "--data-dir", dir}, `unknown column "url"`},
		{[]string{"import", writeFile(t, "q.csv", "code,destination\na,\"https://a/\nb,https://b/\n"), "--data-dir", dir}, "the rest of the file was not read"},
		{[]string{"export", "--data-dir", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"export", "--data-dir", filepath.Join(dir, "typo")}, "holds no qredge store"},
		{[]string{"export", "--data-dir", dir, "--tag", "a b"}, "--tag: invalid character"},
		{[]string{"export", "--api", "http://127.0.0.1:1", "--api-key", "k"}, "cannot reach http://127.0.0.1:1"},
	} {
		code, _, errb := runLinksCmd(t, c.args...)
		if code == 0 || !strings.Contains(errb, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, code, errb, c.want)
		}
	}
	// A target on the command line wins over one in the environment.
	t.Setenv("QREDGE_REDIS", "127.0.0.1:1")
	mustRunLinks(t, "import", csvFile, "--data-dir", dir)
}

// TestLinksDataDirLocked: a data directory held by a running qredge serve
// fails quickly with a hint to use --api.
func TestLinksDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	mustStartServe(t, dir, nil)
	code, _, errb := runLinksCmd(t, "export", "--data-dir", dir)
	if code != 1 || !strings.Contains(errb, "locked by another qredge process") || !strings.Contains(errb, "--server URL") {
		t.Fatalf("exit %d, stderr %q", code, errb)
	}
}

// TestLinksAPI imports through the bulk route of qredge serve, exports
// 20,000 links page by page, and re-imports the export into a data
// directory.
func TestLinksAPI(t *testing.T) {
	const key = "links-test-admin-key-0123"
	s, _ := mustStartServe(t, t.TempDir(), func(c *ServeConfig) { c.API.AdminKey = key })
	api := "http://" + s.Addr()
	src := t.TempDir()
	mustSeedDataDir(t, src, linksFixture(t))
	file := filepath.Join(t.TempDir(), "links.csv")
	mustRunLinks(t, "export", "--data-dir", src, "--output", file)
	if out := mustRunLinks(t, "import", file, "--api", api, "--api-key", key); !strings.HasPrefix(out, "imported 4 links, 0 failed") {
		t.Fatal(out)
	}
	// Through the API, conflicts and invalid rows are reported per row.
	code, out, errb := runLinksCmd(t, "import", writeFile(t, "c.csv", "code,destination\nplain,https://a.example/\nnew,https://a.example/\nx,nope\n"), "--api", api, "--api-key", key)
	if code != 1 || !strings.HasPrefix(out, "imported 1 links, 2 failed") ||
		!strings.HasPrefix(errb, "line 2: code plain: link \"plain\" already exists\nline 4: code x: destination: ") {
		t.Fatalf("exit %d %q %q", code, out, errb)
	}
	// Atomic: the conflict keeps the chunk out.
	code, out, errb = runLinksCmd(t, "import", writeFile(t, "a.csv", "code,destination\nplain,https://a.example/\nnew2,https://a.example/\n"), "--api", api, "--api-key", key, "--atomic")
	if code != 1 || !strings.HasPrefix(out, "imported 0 links, 1 failed, 1 valid ones not imported") || !strings.HasPrefix(errb, "line 2: code plain: ") {
		t.Fatalf("exit %d %q %q", code, out, errb)
	}
	code, _, errb = runLinksCmd(t, "import", file, "--api", api, "--api-key", "wrong-key")
	if code != 1 || !strings.Contains(errb, "401 Unauthorized") {
		t.Fatalf("wrong key: exit %d %q", code, errb)
	}

	// 20,000 more links, then the export streams them all.
	const n = 20000
	var b strings.Builder
	b.WriteString("code,destination,tags\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "bulk%d,https://example.com/%d,bulk\n", i, i)
	}
	if out := mustRunLinks(t, "import", writeFile(t, "bulk.csv", b.String()), "--api", api, "--api-key", key, "--chunk", "5000"); !strings.HasPrefix(out, fmt.Sprintf("imported %d links, 0 failed", n)) {
		t.Fatal(out)
	}
	export := filepath.Join(t.TempDir(), "all.jsonl")
	code, _, errb = runLinksCmd(t, "export", "--api", api, "--api-key", key, "--output", export)
	if code != 0 {
		t.Fatal(errb)
	}
	t.Log(strings.TrimSpace(errb))
	data, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != n+5 || !strings.Contains(string(data), `"short_url":"`) {
		t.Fatalf("exported %d lines, want %d", lines, n+5)
	}
	// The export re-imports elsewhere (short_url and qr_url dropped), and
	// --tag pages through the API too.
	dst := t.TempDir()
	if out := mustRunLinks(t, "import", export, "--data-dir", dst); !strings.HasPrefix(out, fmt.Sprintf("imported %d links, 0 failed", n+5)) {
		t.Fatal(out)
	}
	if got := dataDirLinks(t, dst); len(got) != n+5 {
		t.Fatalf("%d links", len(got))
	}
	if out := mustRunLinks(t, "export", "--api", api, "--api-key", key, "--tag", "print"); strings.Count(out, "\n") != 3 {
		t.Fatalf("export --tag print:\n%s", out)
	}
}

// benchLinksCSV writes a CSV file of n links for the benchmarks and
// returns its path.
func benchLinksCSV(b *testing.B, n int) string {
	var sb strings.Builder
	sb.WriteString("code,destination,tags\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "c%d,https://example.com/landing/%d?utm_source=qr,print spring\n", i, i)
	}
	return writeFile(b, "links.csv", sb.String())
}

// BenchmarkLinksImport imports 10,000 links per op from CSV into a fresh
// data directory or Redis prefix, and reports links/s.
func BenchmarkLinksImport(b *testing.B) {
	const n = 10000
	file := benchLinksCSV(b, n)
	bench := func(b *testing.B, target func(i int) []string) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			args := append([]string{"import", file}, target(i)...)
			b.StartTimer()
			if out := mustRunLinks(b, args...); !strings.HasPrefix(out, fmt.Sprintf("imported %d links, 0 failed", n)) {
				b.Fatal(out)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "links/s")
	}
	b.Run("data-dir", func(b *testing.B) {
		bench(b, func(int) []string { return []string{"--data-dir", b.TempDir()} })
	})
	b.Run("redis", func(b *testing.B) {
		srv := redistest.MustStart(b, redistest.Options{})
		bench(b, func(i int) []string {
			return []string{"--redis", srv.Addr(), "--redis-prefix", fmt.Sprintf("bench%d-%d", b.N, i)}
		})
	})
}

// BenchmarkLinksExport exports 10,000 links per op as CSV.
func BenchmarkLinksExport(b *testing.B) {
	const n = 10000
	file := benchLinksCSV(b, n)
	bench := func(b *testing.B, target ...string) {
		mustRunLinks(b, append([]string{"import", file}, target...)...)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			mustRunLinks(b, append([]string{"export", "--output", filepath.Join(b.TempDir(), "out.csv")}, target...)...)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "links/s")
	}
	b.Run("data-dir", func(b *testing.B) { bench(b, "--data-dir", b.TempDir()) })
	b.Run("redis", func(b *testing.B) {
		bench(b, "--redis", redistest.MustStart(b, redistest.Options{}).Addr())
	})
}

// TestLinksImportPolicy: an import straight into a store (which bypasses
// the API) applies the same destination policy when given it: the deny
// list, the loop check against --public-url and --short-domains, and
// --allow-http=false, each row's error naming the rule.
func TestLinksImportPolicy(t *testing.T) {
	file := writeFile(t, "policy.csv", "code,destination\n"+
		"ok,https://example.com/fine\n"+
		"deny,https://login.evil.example/x\n"+
		"loop,https://go.example.com/other\n"+
		"short,https://qr.example.com/x\n"+
		"plain,http://example.com/insecure\n"+
		"prefix,https://docs.example.org/forms/123\n")
	args := []string{"--deny-destinations", "evil.example,https://docs.example.org/forms/", "--public-url", "https://go.example.com",
		"--short-domains", "qr.example.com", "--allow-http=false"}
	want := []string{
		"line 3: code deny: ", "evil.example",
		"line 4: code loop: ", "go.example.com",
		"line 5: code short: ", "qr.example.com",
		"line 6: code plain: ", "http",
		"line 7: code prefix: ", "https://docs.example.org/forms/",
	}
	for _, dry := range []bool{false, true} {
		dir := t.TempDir()
		a := append([]string{"import", file, "--data-dir", dir}, args...)
		if dry {
			a = append(a, "--dry-run")
		}
		code, out, errb := runLinksCmd(t, a...)
		if code != 1 || !strings.Contains(errb, "5 of 6 rows failed") {
			t.Fatalf("dry run %v: exit %d, stdout %q, stderr %q", dry, code, out, errb)
		}
		lines := strings.Split(errb, "\n")
		for i := 0; i < len(want); i += 2 {
			if i/2 >= len(lines) || !strings.HasPrefix(lines[i/2], want[i]) || !strings.Contains(lines[i/2], want[i+1]) {
				t.Errorf("dry run %v: stderr line %d: want %q naming %q, stderr:\n%s", dry, i/2+1, want[i], want[i+1], errb)
			}
		}
		if dry {
			continue
		}
		var codes []string
		for _, l := range dataDirLinks(t, dir) {
			codes = append(codes, l.Code)
		}
		if !reflect.DeepEqual(codes, []string{"ok"}) {
			t.Errorf("imported %v, want [ok]", codes)
		}
	}
	// Without a policy, all six are imported; a bad deny entry or
	// --public-url is a usage error.
	mustRunLinks(t, "import", file, "--data-dir", t.TempDir())
	for _, c := range [][]string{{"--deny-destinations", "http://"}, {"--public-url", "go.example.com"}} {
		if code, _, errb := runLinksCmd(t, append([]string{"import", file, "--data-dir", t.TempDir()}, c...)...); code == 0 || !strings.Contains(errb, c[0]) {
			t.Errorf("%v: exit %d, stderr %q", c, code, errb)
		}
	}
}

// TestLinksImportExactKeys: JSON lines straight into a store take keys
// exactly as exported, as the API does: "Destination" beside
// "destination" is refused, not taken as the last one.
func TestLinksImportExactKeys(t *testing.T) {
	file := writeFile(t, "links.jsonl", `{"code":"k","destination":"https://a.example/","Destination":"https://evil.example/"}`+"\n")
	code, _, errb := runLinksCmd(t, "import", file, "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errb, "line 1: code k: Destination: ") {
		t.Fatalf("exit %d %q", code, errb)
	}
}
