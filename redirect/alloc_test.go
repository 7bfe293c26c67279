//go:build !race

package redirect

import "testing"

// TestServeAllocs enforces the hot path's zero-allocation promise.
func TestServeAllocs(t *testing.T) {
	h := NewHandler(DefaultConfig(), benchTable(1000))
	for _, tc := range []struct{ uri, host string }{
		{"/c42", "localhost"},
		{"/fwd?utm_medium=print&x=1", "localhost"},
		{"/promo", "go.brand.example"},
		{"/nope", "localhost"},
		{"/a.b", "localhost"},
	} {
		ctx := newCtx(tc.uri, tc.host)
		h.Serve(ctx) // warm buffers
		n := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			h.Serve(ctx)
		})
		if n != 0 {
			t.Errorf("%s on %s: %v allocations per request, want 0", tc.uri, tc.host, n)
		}
	}
}
