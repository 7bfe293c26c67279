package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
)

func codecLinks() []*Link {
	at := func(t time.Time) *time.Time { return &t }
	future := testclock.Now().Truncate(time.Second) // schedules in the future, whatever today is
	created := testclock.Date(2026, 3, 1, 12, 0, 0).Add(123456789)
	landing := testclock.Date(1969, 7, 20, 20, 17, 40) // before 1970: negative nanoseconds
	return []*Link{
		{Code: "a", Destination: "https://example.com/", Status: 302, Version: 1},
		{Code: "plain", Destination: "https://example.com/p?x=1#f", Status: 301, Version: 1 << 40, CreatedAt: created, UpdatedAt: created},
		{Code: "full", Domain: "go.example", Destination: "https://example.com/full", Status: 307, ForwardQuery: true,
			QueryPrecedence: QueryScanWins, Disabled: true, Tags: []string{"bf26", "tv"}, CreatedAt: created, UpdatedAt: created.Add(time.Hour), Version: 99,
			Title: "Black Friday poster", Notes: "Printed 10,000 times.\nDo not change the code.",
			GoneURL: "https://example.com/gone", MaxScans: 1000, MaxScansIncludeBots: true, ScanLimitReachedAt: at(created.Add(2 * time.Hour)),
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
			Rules: []Rule{
				{Name: "ios-de", When: Match{Device: []string{"ios"}, Country: []string{"DE", "AT"}, Lang: []string{"de"}}, Destination: "https://example.de/"},
				{When: Match{Query: map[string]string{"src": "tv", "a": ""}, Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"c": "v"}}, Destination: "https://example.com/q"},
			},
			Variants: []Variant{{Name: "v1", Destination: "https://example.com/a", Weight: 70}, {Name: "blue", Destination: "https://example.com/b", Weight: 30}},
			Schedule: &Schedule{NotBefore: at(future.Add(24 * time.Hour)), BeforeURL: "https://example.com/soon", NotAfter: at(future.AddDate(0, 1, 0)), AfterURL: "https://example.com/over"}},
		{Code: "sched-only", Destination: "https://example.com/s", Status: 308, Schedule: &Schedule{NotAfter: at(future.AddDate(4, 0, 0))}},
		{Code: "empty-schedule", Destination: "https://example.com/s", Status: 302, Schedule: &Schedule{}},
		{Code: "limited", Destination: "https://example.com/l", Status: 302, MaxScans: 1, Title: "only a title"},
		{Code: "unnamed-rule", Destination: "https://example.com/r", Status: 302, GoneURL: "https://example.com/g",
			Rules: []Rule{{When: Match{Device: []string{"android"}}, Destination: "https://example.com/a"}}},
		{Code: "old", Destination: "https://example.com/o", Status: 302, CreatedAt: landing, UpdatedAt: landing},
	}
}

func sameLink(t *testing.T, got, want *Link) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("decoded\n%s\nwant\n%s", g, w)
	}
}

func TestLinkBinaryRoundTrip(t *testing.T) {
	for _, l := range codecLinks() {
		b := AppendLinkBinary(nil, l)
		got, err := DecodeLinkBinary(b)
		if err != nil {
			t.Fatalf("%s: %v", l.Code, err)
		}
		sameLink(t, got, l)
		// The extras alone, beside the four fields a holder keeps.
		ext := AppendLinkExtras(nil, l)
		r := &Link{Code: l.Code, Domain: l.Domain, Destination: l.Destination, Version: l.Version}
		if err := DecodeLinkExtras(r, ext); err != nil {
			t.Fatal(err)
		}
		sameLink(t, r, l)
		js, _ := json.Marshal(l)
		t.Logf("%s: %d bytes binary (%d extras), %d bytes JSON", l.Code, len(b), len(ext), len(js))
	}
}

func TestExtrasCreated(t *testing.T) {
	for _, l := range codecLinks() {
		got := ExtrasCreated(string(AppendLinkExtras(nil, l)))
		want := int64(0)
		if !l.CreatedAt.IsZero() {
			want = l.CreatedAt.UnixNano()
		}
		if got != want {
			t.Fatalf("%s: created %d, want %d", l.Code, got, want)
		}
	}
	if ExtrasCreated("") != 0 || ExtrasCreated("\x80") != 0 {
		t.Fatal("damaged extras gave a time")
	}
}

// TestExtrasTags: the tags read from the extras alone are the link's.
func TestExtrasTags(t *testing.T) {
	tagged := 0
	for _, l := range codecLinks() {
		got := ExtrasTags(string(AppendLinkExtras(nil, l)))
		if !slices.Equal(got, l.Tags) {
			t.Fatalf("%s: tags %q, want %q", l.Code, got, l.Tags)
		}
		if len(got) > 0 {
			tagged++
		}
	}
	if tagged == 0 {
		t.Fatal("no test link has tags")
	}
	if ExtrasTags("") != nil || ExtrasTags("\x80") != nil {
		t.Fatal("damaged extras gave tags")
	}
}

func TestLinkBinaryDamaged(t *testing.T) {
	b := AppendLinkBinary(nil, codecLinks()[2])
	// Every truncation and a trailing byte are refused.
	for n := 0; n < len(b); n++ {
		if _, err := DecodeLinkBinary(b[:n]); !errors.Is(err, ErrBadLinkBinary) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
	}
	if _, err := DecodeLinkBinary(append(b[:len(b):len(b)], 0)); !errors.Is(err, ErrBadLinkBinary) {
		t.Fatalf("a trailing byte: %v", err)
	}
	if _, err := DecodeLinkBinary([]byte{2}); !errors.Is(err, ErrBadLinkBinary) {
		t.Fatalf("another format: %v", err)
	}
}

// FuzzLinkBinary: no input makes the decoder panic or allocate past its
// input, and whatever it decodes encodes back to a link that decodes the
// same.
func FuzzLinkBinary(f *testing.F) {
	for _, l := range codecLinks() {
		f.Add(AppendLinkBinary(nil, l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLinkBinary(b)
		if err != nil {
			if !errors.Is(err, ErrBadLinkBinary) {
				t.Fatalf("error %v does not wrap ErrBadLinkBinary", err)
			}
			return
		}
		again, err := DecodeLinkBinary(AppendLinkBinary(nil, l))
		if err != nil {
			t.Fatalf("re-encoded link does not decode: %v", err)
		}
		sameLink(t, again, l)
	})
}
