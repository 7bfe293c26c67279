package qr

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"testing"

	"github.com/qredge/qredge/qr/qrtest"
)

func TestParseLevel(t *testing.T) {
	f := func(s string, want Level, ok bool) {
		t.Helper()
		got, gotOK := ParseLevel(s)
		if gotOK != ok || (ok && got != want) {
			t.Fatalf("ParseLevel(%q) = %v, %v; want %v, %v", s, got, gotOK, want, ok)
		}
		if ok && !strings.EqualFold(got.String(), s) {
			t.Fatalf("Level %v prints as %q", got, got.String())
		}
	}
	f("L", L, true)
	f("m", M, true)
	f("Q", Q, true)
	f("h", H, true)
	for _, bad := range []string{"", "X", "LL", "1", "l ", "\x0c", ","} {
		f(bad, 0, false)
	}
}

func TestParseColor(t *testing.T) {
	f := func(s string, want color.RGBA, ok bool) {
		t.Helper()
		got, gotOK := ParseColor(s)
		if gotOK != ok || got != want {
			t.Fatalf("ParseColor(%q) = %v, %v; want %v, %v", s, got, gotOK, want, ok)
		}
	}
	f("000000", color.RGBA{A: 255}, true)
	f("1a2B3c", color.RGBA{0x1a, 0x2b, 0x3c, 255}, true)
	f("FFF", color.RGBA{255, 255, 255, 255}, true)
	f("a1c", color.RGBA{0xaa, 0x11, 0xcc, 255}, true)
	f("#ff0000", color.RGBA{0xff, 0, 0, 255}, true) // as colour pickers and CSS write it
	f("#fff", color.RGBA{255, 255, 255, 255}, true)
	for _, bad := range []string{"", "#", "##fff", "00000", "0000000", "ggg", "12345g", " 000000", "00 000", "0x0000"} {
		f(bad, color.RGBA{}, false)
	}
	if s := FormatColor(color.RGBA{0x1a, 0x2b, 0x3c, 0}); s != "1a2b3c" {
		t.Fatalf("FormatColor = %q", s)
	}
}

func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"000000", "fff", "1a2B3c", "#123", "", "zzzzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseColor(s)
		if !ok {
			return
		}
		if n := len(strings.TrimPrefix(s, "#")); n != 3 && n != 6 || c.A != 0xff {
			t.Fatalf("ParseColor(%q) = %v", s, c)
		}
		if back, ok := ParseColor(FormatColor(c)); !ok || back != c {
			t.Fatalf("%q -> %v -> %q -> %v", s, c, FormatColor(c), back)
		}
		if hex := strings.TrimPrefix(s, "#"); len(hex) == 6 && FormatColor(c) != strings.ToLower(hex) {
			t.Fatalf("%q formats back as %q", s, FormatColor(c))
		}
	})
}

func TestContrast(t *testing.T) {
	f := func(a, b string, want float64) {
		t.Helper()
		ca, _ := ParseColor(a)
		cb, _ := ParseColor(b)
		if got := Contrast(ca, cb); got < want-0.005 || got > want+0.005 {
			t.Fatalf("Contrast(%s, %s) = %.3f, want %.2f", a, b, got, want)
		}
		if Contrast(ca, cb) != Contrast(cb, ca) {
			t.Fatalf("Contrast(%s, %s) is not symmetric", a, b)
		}
	}
	// Reference values from the WCAG definition.
	f("000000", "ffffff", 21)
	f("777777", "ffffff", 4.48)
	f("767676", "ffffff", 4.54)
	f("0000ff", "ffffff", 8.59)
	f("ff0000", "ffffff", 4.00)
	f("123456", "123456", 1)
}

func TestValidate(t *testing.T) {
	f := func(change func(*Options), option, detail string) {
		t.Helper()
		o := DefaultOptions()
		change(&o)
		err := o.Validate()
		if option == "" {
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			return
		}
		oe, ok := err.(*OptionError)
		if !ok || oe.Option != option || !strings.Contains(oe.Message, detail) {
			t.Fatalf("%+v: error %#v, want option %q with %q", o, err, option, detail)
		}
	}
	rgb := func(s string) color.RGBA { c, _ := ParseColor(s); return c }
	f(func(o *Options) {}, "", "")
	f(func(o *Options) { o.Size = MinSize }, "", "")
	f(func(o *Options) { o.Size = MaxSize }, "", "")
	f(func(o *Options) { o.Size = MinSize - 1 }, "size", "64 to 4096")
	f(func(o *Options) { o.Size = MaxSize + 1 }, "size", "64 to 4096")
	f(func(o *Options) { o.Margin = 0 }, "", "")
	f(func(o *Options) { o.Margin = MaxMargin }, "", "")
	f(func(o *Options) { o.Margin = -1 }, "margin", "0 to 16")
	f(func(o *Options) { o.Margin = MaxMargin + 1 }, "margin", "0 to 16")
	f(func(o *Options) { o.Foreground = rgb("767676") }, "", "")
	f(func(o *Options) { o.Foreground = rgb("777777") }, "fg", "contrast ratio of 4.47:1")
	f(func(o *Options) { o.Foreground, o.Background = rgb("0b3d91"), rgb("ffd700") }, "", "")
	f(func(o *Options) { o.Foreground, o.Background = rgb("ffffff"), rgb("000000") }, "fg", "not darker")
	f(func(o *Options) { o.Foreground, o.Background = rgb("000000"), rgb("000000") }, "fg", "not darker")
	f(func(o *Options) { o.Foreground, o.Background = rgb("ffd700"), rgb("0b3d91") }, "fg", "inverted")
}

const testURL = "https://go.example/spring24?q"

func TestEncode(t *testing.T) {
	// Versions grow with the level: 29 bytes fit version 2 (25 modules)
	// at L, version 3 (29) at M and Q and version 4 (33) at H.
	for _, tt := range []struct {
		level Level
		n     int
	}{{L, 25}, {M, 29}, {Q, 29}, {H, 33}} {
		c, err := Encode(testURL, tt.level)
		if err != nil {
			t.Fatal(err)
		}
		if c.Modules() != tt.n {
			t.Fatalf("level %v: %d modules, want %d", tt.level, c.Modules(), tt.n)
		}
		// The top-left finder pattern: a dark ring, a light ring, a dark
		// 3x3 centre; the separator next to it is light.
		for y := 0; y < 8; y++ {
			for x := 0; x < 8; x++ {
				d := max(abs(x-3), abs(y-3))
				if want := d != 2 && d != 4; c.Dark(x, y) != want {
					t.Fatalf("level %v: module (%d,%d) dark=%v", tt.level, x, y, c.Dark(x, y))
				}
			}
		}
	}
	if _, err := Encode("", M); err == nil {
		t.Fatal("empty text encoded")
	}
	if _, err := Encode(strings.Repeat("x", 1274), H); err == nil {
		t.Fatal("1274 bytes encoded at level H (the most is 1273)")
	}
	if _, err := Encode(testURL, Level(4)); err == nil {
		t.Fatal("level 4 encoded")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestRoundTrip draws codes at several sizes, levels, margins and colours
// and reads them back with an independent decoder.
func TestRoundTrip(t *testing.T) {
	texts := []string{
		testURL,
		"https://links.a-rather-long-brand-domain.example/Summer_Campaign-2026_flyer?q",
		"12345678901234567890",
	}
	colours := [][2]string{{"000000", "ffffff"}, {"0b3d91", "ffd700"}, {"222", "EEE"}}
	for _, text := range texts {
		for _, level := range []Level{L, M, Q, H} {
			c, err := Encode(text, level)
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{64, 300, 1024} {
				for _, margin := range []int{0, 4} {
					for i, col := range colours {
						if size != 300 && i > 0 {
							continue // colours at one size are enough
						}
						o := Options{Size: size, Margin: margin}
						o.Foreground, _ = ParseColor(col[0])
						o.Background, _ = ParseColor(col[1])
						name := fmt.Sprintf("%.12s/%v/%d/m%d/%s-%s", text, level, size, margin, col[0], col[1])
						if _, err := c.Fit(o); err != nil {
							if size != MinSize {
								t.Fatalf("%s: %v", name, err)
							}
							continue // too dense for 64 pixels; TestFit covers it
						}
						checkPNG(t, name, c, o, text)
						checkSVG(t, name, c, o, text)
					}
				}
			}
		}
	}
}

func checkPNG(t *testing.T, name string, c *Code, o Options, text string) {
	t.Helper()
	b, err := c.PNG(o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: png: %v", name, err)
	}
	p, ok := img.(*image.Paletted)
	if !ok || len(p.Palette) != 2 || p.Bounds() != image.Rect(0, 0, o.Size, o.Size) {
		t.Fatalf("%s: %T %v, want a %dx%d 2-colour paletted image", name, img, img.Bounds(), o.Size, o.Size)
	}
	if p.Palette[0] != o.Background || p.Palette[1] != o.Foreground {
		t.Fatalf("%s: palette %v, want %v and %v", name, p.Palette, o.Background, o.Foreground)
	}
	// Each module is a solid square of scale pixels, offset by the
	// centred padding; everything else is background.
	scale, _ := c.Fit(o)
	off := (o.Size-scale*(c.n+2*o.Margin))/2 + scale*o.Margin
	for y := 0; y < o.Size; y++ {
		for x := 0; x < o.Size; x++ {
			mx, my := (x - off), (y - off)
			var want uint8
			if mx >= 0 && my >= 0 && mx < c.n*scale && my < c.n*scale && c.Dark(mx/scale, my/scale) {
				want = 1
			}
			if got := p.ColorIndexAt(x, y); got != want {
				t.Fatalf("%s: pixel (%d,%d) has colour %d, want %d", name, x, y, got, want)
			}
		}
	}
	got, err := qrtest.Decode(img)
	if err != nil || got != text {
		t.Fatalf("%s: PNG decodes to %q, %v; want %q", name, got, err, text)
	}
}

func checkSVG(t *testing.T, name string, c *Code, o Options, text string) {
	t.Helper()
	b, err := c.SVG(o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, err := qrtest.ParseSVG(b, 4)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, b)
	}
	if s.Width != strconv.Itoa(o.Size) || s.Height != s.Width || s.Modules != c.n+2*o.Margin ||
		s.Foreground != o.Foreground || s.Background != o.Background || !bytes.Contains(b, []byte(`shape-rendering="crispEdges"`)) {
		t.Fatalf("%s: svg %dx%s modules %d colours %v %v:\n%s", name, o.Size, s.Width, s.Modules, s.Foreground, s.Background, b)
	}
	for y := 0; y < c.n; y++ {
		for x := 0; x < c.n; x++ {
			want := o.Background
			if c.Dark(x, y) {
				want = o.Foreground
			}
			if got := s.Image.RGBAAt((x+o.Margin)*4+1, (y+o.Margin)*4+1); got != want {
				t.Fatalf("%s: module (%d,%d) = %v, want %v", name, x, y, got, want)
			}
		}
	}
	got, err := qrtest.Decode(s.Image)
	if err != nil || got != text {
		t.Fatalf("%s: SVG decodes to %q, %v; want %q", name, got, err, text)
	}
}

func TestFit(t *testing.T) {
	c, err := Encode(testURL, H) // 33 modules
	if err != nil {
		t.Fatal(err)
	}
	f := func(size, margin, scale int) {
		t.Helper()
		o := DefaultOptions()
		o.Size, o.Margin = size, margin
		got, err := c.Fit(o)
		if scale == 0 {
			oe, ok := err.(*OptionError)
			if !ok || oe.Option != "size" || !strings.Contains(oe.Message, "too small") {
				t.Fatalf("Fit(%d, %d) = %d, %v; want a size error", size, margin, got, err)
			}
			if _, err := c.PNG(o); err != oe && err.Error() != oe.Error() {
				t.Fatalf("PNG accepted what Fit refused: %v", err)
			}
			if _, err := c.SVG(o); err == nil || err.Error() != oe.Error() {
				t.Fatalf("SVG accepted what Fit refused: %v", err)
			}
			return
		}
		if err != nil || got != scale {
			t.Fatalf("Fit(%d, %d) = %d, %v; want %d", size, margin, got, err, scale)
		}
	}
	f(64, 0, 1)
	f(64, 4, 1)
	f(64, 15, 1) // 63 modules
	f(64, 16, 0) // 65 modules
	f(66, 0, 2)
	f(512, 4, 12) // 41 modules: 492 pixels and 10 of padding
	f(4096, 16, 63)
}

func TestRenderRefusesBadOptions(t *testing.T) {
	c, err := Encode(testURL, M)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Foreground, o.Background = o.Background, o.Foreground
	if _, err := c.PNG(o); err == nil {
		t.Fatal("PNG rendered an inverted code")
	}
	if _, err := c.SVG(o); err == nil {
		t.Fatal("SVG rendered an inverted code")
	}
}

var sink []byte

func benchmarkRender(b *testing.B, render func(*Code, Options) ([]byte, error), size int) {
	c, err := Encode(testURL, M)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	o.Size = size
	b.ReportAllocs()
	for b.Loop() {
		if sink, err = render(c, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(sink)), "bytes/image")
}

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c, err := Encode(testURL, M)
		if err != nil {
			b.Fatal(err)
		}
		sink = sink[:0:0]
		_ = c
	}
}

func BenchmarkPNG512(b *testing.B)  { benchmarkRender(b, (*Code).PNG, 512) }
func BenchmarkPNG4096(b *testing.B) { benchmarkRender(b, (*Code).PNG, 4096) }
func BenchmarkSVG(b *testing.B)     { benchmarkRender(b, (*Code).SVG, 512) }

func BenchmarkPNG512Parallel(b *testing.B) {
	c, err := Encode(testURL, M)
	if err != nil {
		b.Fatal(err)
	}
	o := DefaultOptions()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var local []byte
		for pb.Next() {
			if local, err = c.PNG(o); err != nil {
				panic(err)
			}
		}
		_ = local
	})
}
