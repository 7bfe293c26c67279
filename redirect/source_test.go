package redirect

import (
	"testing"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/store"
)

func TestCutQRMarker(t *testing.T) {
	for qs, want := range map[string]struct {
		rest string
		ok   bool
	}{
		"":             {"", false},
		"q":            {"", true},
		"q&utm=tv":     {"utm=tv", true},
		"q&":           {"", true},
		"q=shoes":      {"q=shoes", false},
		"qq":           {"qq", false},
		"x=1&q":        {"x=1&q", false},
		"Q":            {"Q", false},
		"q&q":          {"q", true}, // only the first is the marker
		"utm_source=q": {"utm_source=q", false},
	} {
		rest, ok := cutQRMarker([]byte(qs))
		if string(rest) != want.rest || ok != want.ok {
			t.Errorf("cutQRMarker(%q) = %q, %v; want %q, %v", qs, rest, ok, want.rest, want.ok)
		}
	}
}

// TestQRMarker: a scan through a QR code (short URL + "?q") is recorded
// with source qr, and neither rules nor query forwarding see the marker.
func TestQRMarker(t *testing.T) {
	q := analytics.NewQueue(100)
	cfg := DefaultConfig()
	cfg.Events = q
	tb := newTestTable(
		&store.Link{Code: "plain", Destination: "https://example.com/"},
		&store.Link{Code: "fwd", Destination: "https://example.com/f?utm_source=qr", ForwardQuery: true},
		validLink(t, &store.Link{Code: "search", Destination: "https://example.com/default",
			Rules: []store.Rule{{When: store.Match{Query: map[string]string{"q": "*"}}, Destination: "https://example.com/search"}}}),
	)
	h := NewHandler(cfg, tb)
	for _, tc := range []struct {
		uri, location string
		source        uint8
	}{
		{"/plain?q", "https://example.com/", analytics.SourceQR},
		{"/plain", "https://example.com/", analytics.SourceLink},
		{"/plain/?q", "https://example.com/", analytics.SourceQR},
		{"/fwd?q", "https://example.com/f?utm_source=qr", analytics.SourceQR},
		{"/fwd?q&utm_medium=print", "https://example.com/f?utm_source=qr&utm_medium=print", analytics.SourceQR},
		{"/fwd?q=shoes", "https://example.com/f?utm_source=qr&q=shoes", analytics.SourceLink},
		{"/search?q", "https://example.com/default", analytics.SourceQR}, // the marker is not the rule's q
		{"/search?q=shoes", "https://example.com/search", analytics.SourceLink},
		{"/search?q&q=shoes", "https://example.com/search", analytics.SourceQR},
	} {
		ctx := newCtx(tc.uri, "localhost")
		h.Serve(ctx)
		if got := string(ctx.Response.Header.Peek("Location")); ctx.Response.StatusCode() != 302 || got != tc.location {
			t.Errorf("%s: %d %q, want 302 %q", tc.uri, ctx.Response.StatusCode(), got, tc.location)
		}
		e, ok := q.Dequeue()
		if !ok || e.Source != tc.source {
			t.Errorf("%s: event %v, source %d, want %d", tc.uri, ok, e.Source, tc.source)
		}
	}
	// Without events (the fast path) the marker is stripped too.
	h = NewHandler(DefaultConfig(), tb)
	ctx := newCtx("/fwd?q&x=1", "localhost")
	h.Serve(ctx)
	if got := string(ctx.Response.Header.Peek("Location")); got != "https://example.com/f?utm_source=qr&x=1" {
		t.Errorf("fast path: Location %q", got)
	}
	// The resolve endpoint drops it as scans do.
	ex := h.Explain(&store.Link{Code: "fwd", Destination: "https://example.com/f", ForwardQuery: true, Status: 302}, ExplainInput{RawQuery: "q&a=1"})
	if ex.Location != "https://example.com/f?a=1" {
		t.Errorf("Explain: Location %q", ex.Location)
	}
}
