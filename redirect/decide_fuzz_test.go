package redirect

import (
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

// FuzzDecide evaluates a link with every kind of rule, variants and a
// schedule against arbitrary requests: the handler must never panic, and
// must answer with one of the link's own targets, a 404 or a 410.
func FuzzDecide(f *testing.F) {
	f.Add("Mozilla/5.0 (iPhone)", "DE", "de-DE,de;q=0.9", "src=tv&x=1", "beta=on; qv_fz=a", uint8(1), uint8(1), int64(0))
	f.Add("", "", "", "", "", uint8(0), uint8(5), int64(-1))
	f.Fuzz(func(t *testing.T, ua, country, lang, query, cookie string, wa, wb uint8, offset int64) {
		start := testclock.Date(2026, 1, 1, 0, 0, 0)
		end := start.Add(time.Hour)
		l := &store.Link{Code: "fz", Destination: "https://example.com/d", ForwardQuery: true,
			Rules: []store.Rule{
				{When: store.Match{Device: []string{"ios", "other"}, Lang: []string{"de"}}, Destination: "https://example.com/r0"},
				{When: store.Match{Country: []string{"DE", "FR"}}, Destination: "https://example.com/r1"},
				{When: store.Match{Query: map[string]string{"src": "tv"}, Cookie: map[string]string{"beta": "*"}}, Destination: "https://example.com/r2"},
			},
			Schedule: &store.Schedule{NotBefore: &start, BeforeURL: "https://example.com/before", NotAfter: &end},
		}
		if wa > 0 && wb > 0 {
			l.Variants = []store.Variant{{Name: "a", Destination: "https://example.com/va", Weight: int(wa)}, {Name: "b", Destination: "https://example.com/vb", Weight: int(wb)}}
		}
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.CountryHeader = "CF-IPCountry"
		cfg.Now = func() time.Time { return start.Add(time.Duration(offset)) }
		l.Version = 1
		h := NewHandler(cfg, newTestTable(l))
		ctx := newCtx("/fz?"+query, "localhost")
		ctx.Request.Header.Set("User-Agent", ua)
		ctx.Request.Header.Set("CF-IPCountry", country)
		ctx.Request.Header.Set("Accept-Language", lang)
		ctx.Request.Header.Set("Cookie", cookie)
		h.Serve(ctx)
		switch st := ctx.Response.StatusCode(); st {
		case 404, 410:
		case 302:
			loc := string(ctx.Response.Header.Peek("Location"))
			ok := false
			for _, prefix := range []string{"https://example.com/d", "https://example.com/r0", "https://example.com/r1",
				"https://example.com/r2", "https://example.com/va", "https://example.com/vb", "https://example.com/before"} {
				if len(loc) >= len(prefix) && loc[:len(prefix)] == prefix {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("Location %q is none of the link's targets", loc)
			}
		default:
			t.Fatalf("status %d", st)
		}
	})
}
