package redirect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testclock"
	"github.com/qredge/qredge/store"
)

func TestExplain(t *testing.T) {
	start := testclock.Date(2026, 11, 27, 12, 0, 0)
	l := validLink(t, &store.Link{Code: "app", Destination: "https://example.com/", ForwardQuery: true,
		Rules: []store.Rule{
			{When: store.Match{Device: []string{"ios"}}, Destination: "https://apps.apple.com/app/id1"},
			{When: store.Match{Country: []string{"DE"}, Lang: []string{"de"}}, Destination: "https://example.de/"},
			{When: store.Match{Header: map[string]string{"X-Test": "1"}, Cookie: map[string]string{"beta": "on"}}, Destination: "https://example.com/beta"},
		},
		Variants: []store.Variant{{Name: "a", Destination: "https://example.com/a", Weight: 1}, {Name: "b", Destination: "https://example.com/b", Weight: 1}},
		Schedule: &store.Schedule{NotBefore: &start, BeforeURL: "https://example.com/soon"},
	})
	cfg := DefaultConfig()
	cfg.Countries = fakeGeo{netip.MustParseAddr("203.0.113.7"): {'D', 'E'}}
	h := NewHandler(cfg, NewTable())
	after := start.Add(time.Hour)
	f := func(name string, in ExplainInput, check func(Explanation) bool) {
		t.Helper()
		if in.At.IsZero() {
			in.At = after
		}
		ex := h.Explain(l, in)
		if !check(ex) {
			t.Fatalf("%s: %+v", name, ex)
		}
	}
	f("ios rule", ExplainInput{UserAgent: uaIPhoneFull}, func(ex Explanation) bool {
		return ex.Reason == ReasonRule && ex.Rule == 0 && ex.Location == "https://apps.apple.com/app/id1" && ex.Device == "ios"
	})
	f("country and lang", ExplainInput{Country: "de", AcceptLanguage: "de-DE"}, func(ex Explanation) bool {
		return ex.Rule == 1 && ex.Country == "DE" && ex.Lang == "de"
	})
	f("country from ip", ExplainInput{IP: netip.MustParseAddr("203.0.113.7"), AcceptLanguage: "de"}, func(ex Explanation) bool {
		return ex.Rule == 1 && ex.Country == "DE"
	})
	f("header and cookie", ExplainInput{Headers: [][2]string{{"X-Test", "1"}}, Cookies: [][2]string{{"beta", "on"}}, RawQuery: "utm_source=tv"}, func(ex Explanation) bool {
		return ex.Rule == 2 && ex.Location == "https://example.com/beta?utm_source=tv"
	})
	f("new visitor gets a variant", ExplainInput{}, func(ex Explanation) bool {
		return ex.Reason == ReasonVariant && (ex.Variant == "a" || ex.Variant == "b") &&
			strings.HasPrefix(ex.SetCookie, "qv_app="+ex.Variant+"; Path=/app") && ex.Cache == "private, no-store"
	})
	f("returning visitor", ExplainInput{Cookies: [][2]string{{"qv_app", "b"}}}, func(ex Explanation) bool {
		return ex.Reason == ReasonVariantCookie && ex.Variant == "b" && ex.SetCookie == "" && ex.Location == "https://example.com/b"
	})
	f("before the drop", ExplainInput{At: start.Add(-time.Second), UserAgent: uaIPhoneFull}, func(ex Explanation) bool {
		return ex.Reason == ReasonNotYetActive && ex.Status == 302 && ex.Location == "https://example.com/soon" && ex.Cache == "no-store"
	})
	disabled := l.Clone()
	disabled.Disabled = true
	if ex := h.Explain(disabled, ExplainInput{At: after}); ex.Status != 410 || ex.Reason != ReasonDisabled || ex.Location != "" {
		t.Fatalf("disabled: %+v", ex)
	}
}
