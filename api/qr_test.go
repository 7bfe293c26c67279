package api

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/qredge/qredge/qr"
	"github.com/qredge/qredge/qr/qrtest"
	"github.com/qredge/qredge/store"
)

// qrLink is a link as the API returns it, with both URLs.
type qrLink struct {
	store.Link
	ShortURL string `json:"short_url"`
	QRURL    string `json:"qr_url"`
}

func TestQRURLField(t *testing.T) {
	e := mustStartAPI(t)
	var a, b qrLink
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","destination":"https://example.com/"}`, nil, 201, &a)
	if a.ShortURL != "https://go.example/spring24" || a.QRURL != "https://go.example/spring24?q" {
		t.Fatalf("created %+v", a)
	}
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","domain":"go.brand.example","destination":"https://example.com/"}`, nil, 201, &b)
	if b.QRURL != "https://go.brand.example/spring24?q" {
		t.Fatalf("domain link %+v", b)
	}
	var got qrLink
	e.call("GET", "/api/v1/links/spring24", e.read, "", nil, 200, &got)
	if got.QRURL != a.QRURL {
		t.Fatalf("got %+v", got)
	}
	var page struct {
		Links []qrLink `json:"links"`
	}
	e.call("GET", "/api/v1/links", e.read, "", nil, 200, &page)
	for _, l := range page.Links {
		if l.QRURL != l.ShortURL+"?q" {
			t.Fatalf("listed %+v", l)
		}
	}
	// The server sets it: writes that name it are refused.
	p := e.call("PATCH", "/api/v1/links/spring24", e.write, `{"qr_url":"https://evil.example/"}`, nil, 400, nil).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "qr_url" || !strings.Contains(p.Detail, "read-only") {
		t.Fatalf("problem %+v", p)
	}
	p = e.call("POST", "/api/v1/links", e.write, `{"destination":"https://example.com/","qr_url":"x"}`, nil, 400, nil).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "qr_url" {
		t.Fatalf("problem %+v", p)
	}
}

// decodeQR reads the QR code in a response body back to its text.
func decodeQR(t *testing.T, format string, size int, body []byte) string {
	t.Helper()
	var img image.Image
	switch format {
	case "png":
		var err error
		if img, err = png.Decode(bytes.NewReader(body)); err != nil {
			t.Fatalf("png: %v", err)
		}
		if p, ok := img.(*image.Paletted); !ok || len(p.Palette) != 2 || img.Bounds() != image.Rect(0, 0, size, size) {
			t.Fatalf("%T %v, want a %dx%d 2-colour paletted image", img, img.Bounds(), size, size)
		}
	case "svg":
		s, err := qrtest.ParseSVG(body, 4)
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if s.Width != strconv.Itoa(size) || s.Height != s.Width {
			t.Fatalf("svg is %sx%s, want %d", s.Width, s.Height, size)
		}
		img = s.Image
	}
	text, err := qrtest.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func TestQRImages(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","destination":"https://example.com/"}`, nil, 201, nil)
	const want = "https://go.example/spring24?q"
	for _, format := range []string{"png", "svg"} {
		for _, level := range []string{"L", "M", "Q", "H"} {
			for _, size := range []int{64, 300, 1024} {
				for _, margin := range []int{0, 4} {
					for _, colours := range []string{"", "&fg=0B3D91&bg=ffd700", "&fg=222&bg=eee"} {
						q := fmt.Sprintf("format=%s&level=%s&size=%d&margin=%d%s", format, level, size, margin, colours)
						r := e.call("GET", "/api/v1/links/spring24/qr?"+q, e.read, "", nil, 200, nil)
						ctype := map[string]string{"png": "image/png", "svg": "image/svg+xml"}[format]
						if r.header.Get("Content-Type") != ctype || r.header.Get("Cache-Control") != "private, max-age=86400" ||
							r.header.Get("Content-Disposition") != `inline; filename="spring24.`+format+`"` ||
							r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
							t.Fatalf("%s: headers %v", q, r.header)
						}
						if got := decodeQR(t, format, size, r.body); got != want {
							t.Fatalf("%s: decodes to %q, want %q", q, got, want)
						}
					}
				}
			}
		}
	}
	// Defaults: a 512-pixel PNG at level M; the same bytes as asked for
	// explicitly.
	def := e.call("GET", "/api/v1/links/spring24/qr", e.read, "", nil, 200, nil)
	if got := decodeQR(t, "png", 512, def.body); got != want {
		t.Fatalf("default decodes to %q", got)
	}
	explicit := e.call("GET", "/api/v1/links/spring24/qr?format=png&size=512&level=M&margin=4&fg=000&bg=FFFFFF&download=0", e.read, "", nil, 200, nil)
	if !bytes.Equal(def.body, explicit.body) || def.header.Get("ETag") != explicit.header.Get("ETag") {
		t.Fatal("explicit defaults differ from the defaults")
	}
	// download=1 makes an attachment, for print shops.
	r := e.call("GET", "/api/v1/links/spring24/qr?format=svg&download=1", e.read, "", nil, 200, nil)
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="spring24.svg"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", r.header)
	}
}

func TestQRBadParameters(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","destination":"https://example.com/"}`, nil, 201, nil)
	tests := []struct {
		query, field, detail string
	}{
		{"format=gif", "format", "png or svg"},
		{"format=PNG", "format", "png or svg"},
		{"size=63", "size", "64 to 4096"},
		{"size=4097", "size", "64 to 4096"},
		{"size=big", "size", "whole number"},
		{"size=300.5", "size", "whole number"},
		{"margin=-1", "margin", "0 to 16"},
		{"margin=17", "margin", "0 to 16"},
		{"margin=x", "margin", "whole number"},
		{"level=X", "level", "L, M, Q or H"},
		{"level=LM", "level", "L, M, Q or H"},
		{"fg=%23%23000000", "fg", "hex digits"},
		{"fg=00000g", "fg", "hex digits"},
		{"fg=0000", "fg", "hex digits"},
		{"bg=white", "bg", "hex digits"},
		{"download=maybe", "download", "1 or 0"},
		// Colours that scan poorly.
		{"fg=777777", "fg", "contrast ratio of 4.47:1"},
		{"fg=ffd700&bg=ffffff", "fg", "at least 4.5:1"},
		{"fg=ffffff&bg=000000", "fg", "not darker"},
		{"fg=ffd700&bg=0b3d91", "fg", "inverted"},
		{"bg=000", "bg", "not darker"},
		{"bg=555555", "bg", "at least 4.5:1"},
		// 33 modules at H and 2x16 of margin need 65 pixels.
		{"size=64&level=H&margin=16", "size", "too small"},
		{"domain=bad_domain:80", "domain", "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			e.t = t
			p := e.call("GET", "/api/v1/links/spring24/qr?"+tt.query, e.read, "", nil, 400, nil).problem(t)
			if len(p.Errors) != 1 || p.Errors[0].Field != tt.field || !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("problem %+v, want field %q and %q", p, tt.field, tt.detail)
			}
			if p.Code != store.EBADREQUEST {
				t.Fatalf("code %q", p.Code)
			}
		})
	}
	e.t = t
	// The contrast rule is spelled out.
	p := e.call("GET", "/api/v1/links/spring24/qr?fg=ccc", e.read, "", nil, 400, nil).problem(t)
	if !strings.Contains(p.Detail, "foreground darker than its background with a WCAG contrast ratio of at least 4.5:1") {
		t.Fatalf("detail %q", p.Detail)
	}
	// Bad parameters are found before the link is looked up.
	e.call("GET", "/api/v1/links/missing/qr?size=1", e.read, "", nil, 400, nil).problem(t)
	if p := e.call("GET", "/api/v1/links/a%20b/qr", e.read, "", nil, 400, nil).problem(t); p.Errors[0].Field != "code" {
		t.Fatalf("problem %+v", p)
	}
}

func TestQRNotFoundAndAuth(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","destination":"https://example.com/"}`, nil, 201, nil)
	if p := e.call("GET", "/api/v1/links/missing/qr", e.read, "", nil, 404, nil).problem(t); p.Code != store.ENOTFOUND {
		t.Fatalf("problem %+v", p)
	}
	// The code exists, but not on that domain.
	e.call("GET", "/api/v1/links/spring24/qr?domain=go.brand.example", e.read, "", nil, 404, nil).problem(t)
	e.call("GET", "/api/v1/links/spring24/qr", "", "", nil, 401, nil).problem(t)
	r := e.call("GET", "/api/v1/links/spring24/qr", "qk_unknown", "", nil, 401, nil)
	r.problem(t)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("headers %v", r.header)
	}
	// Every scope may read.
	e.call("GET", "/api/v1/links/spring24/qr", e.write, "", nil, 200, nil)
	e.call("GET", "/api/v1/links/spring24/qr", e.admin, "", nil, 200, nil)
}

func TestQRETag(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("POST", "/api/v1/links", e.write, `{"code":"spring24","domain":"go.brand.example","destination":"https://example.com/"}`, nil, 201, nil)
	const path = "/api/v1/links/spring24/qr?format=svg&level=H"
	r := e.call("GET", path, e.read, "", nil, 200, nil)
	tag := r.header.Get("ETag")
	if len(tag) != 34 || tag[0] != '"' || strings.HasPrefix(tag, "W/") {
		t.Fatalf("ETag %q is not a strong one", tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"x", ` + tag, "*"} {
		nm := e.call("GET", path, e.read, "", map[string]string{"If-None-Match": inm}, 304, nil)
		if len(nm.body) != 0 || nm.header.Get("ETag") != tag || nm.header.Get("Cache-Control") != "private, max-age=86400" {
			t.Fatalf("If-None-Match %s: 304 with headers %v and %d bytes", inm, nm.header, len(nm.body))
		}
	}
	// Spelling the same image differently keeps the tag.
	if same := e.call("GET", "/api/v1/links/spring24/qr?level=h&format=svg&fg=000&bg=FFF&download=1", e.read, "", nil, 200, nil); same.header.Get("ETag") != tag {
		t.Fatalf("same image, ETag %q vs %q", same.header.Get("ETag"), tag)
	}
	// Every rendering parameter, and the link's domain, change it.
	seen := map[string]string{tag: path}
	for _, q := range []string{"format=png&level=H", "format=svg&level=Q", "format=svg&level=H&size=513", "format=svg&level=H&margin=3",
		"format=svg&level=H&fg=010000", "format=svg&level=H&bg=fffffe", "format=svg&level=H&domain=go.brand.example"} {
		other := e.call("GET", "/api/v1/links/spring24/qr?"+q, e.read, "", map[string]string{"If-None-Match": tag}, 200, nil)
		otag := other.header.Get("ETag")
		if prev, dup := seen[otag]; dup {
			t.Fatalf("%s has the ETag of %s", q, prev)
		}
		seen[otag] = q
	}
	// A stale or unknown tag gets the image.
	e.call("GET", path, e.read, "", map[string]string{"If-None-Match": `"0123"`}, 200, nil)
	// A deleted link is gone even for a client with the tag.
	e.call("DELETE", "/api/v1/links/spring24", e.write, "", nil, 204, nil)
	e.call("GET", path, e.read, "", map[string]string{"If-None-Match": tag}, 404, nil).problem(t)
}

func TestQRDomainLink(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"promo","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("POST", "/api/v1/links", e.write, `{"code":"promo","domain":"Go.Brand.Example","destination":"https://brand.example/"}`, nil, 201, nil)
	for _, format := range []string{"png", "svg"} {
		r := e.call("GET", "/api/v1/links/promo/qr?domain=go.brand.example&format="+format, e.read, "", nil, 200, nil)
		if got := decodeQR(t, format, 512, r.body); got != "https://go.brand.example/promo?q" {
			t.Fatalf("%s: domain link decodes to %q", format, got)
		}
		r = e.call("GET", "/api/v1/links/promo/qr?format="+format, e.read, "", nil, 200, nil)
		if got := decodeQR(t, format, 512, r.body); got != "https://go.example/promo?q" {
			t.Fatalf("%s: default link decodes to %q", format, got)
		}
	}
}

func FuzzQRQuery(f *testing.F) {
	for _, s := range []string{"", "format=svg&size=300&level=h&margin=0&fg=0B3D91&bg=ffd700&download=1", "fg=fff&bg=000", "bg=000", "size=64&margin=16", "size=-0&margin=+4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseQRQuery(v)
		if err != nil {
			if fields := store.ErrorFields(err); store.ErrorCode(err) != store.EBADREQUEST || len(fields) != 1 || !v.Has(fields[0].Field) {
				t.Fatalf("%q: error %v names %+v", raw, err, fields)
			}
			return
		}
		if err := q.opts.Validate(); err != nil || (q.format != "png" && q.format != "svg") || q.level > qr.H {
			t.Fatalf("%q: accepted %+v (%v)", raw, q, err)
		}
	})
}

// TestQRColourWithHash: a colour written as a colour picker writes it
// (#ff0000, %23 in the URL) is the same image as without the '#'.
func TestQRColourWithHash(t *testing.T) {
	e := mustStartAPI(t)
	e.call("POST", "/api/v1/links", e.write, `{"code":"red","destination":"https://example.com/"}`, nil, 201, nil)
	with := e.call("GET", "/api/v1/links/red/qr?format=svg&fg=%23aa0000", e.read, "", nil, 200, nil)
	without := e.call("GET", "/api/v1/links/red/qr?format=svg&fg=aa0000", e.read, "", nil, 200, nil)
	if !bytes.Equal(with.body, without.body) || with.header.Get("ETag") != without.header.Get("ETag") {
		t.Fatalf("#aa0000 and aa0000 differ: ETags %q and %q", with.header.Get("ETag"), without.header.Get("ETag"))
	}
	e.call("GET", "/api/v1/links/red/qr?fg=%23%23aa0000", e.read, "", nil, 400, nil)
}
