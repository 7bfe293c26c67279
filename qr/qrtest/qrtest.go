// Package qrtest reads QR codes back for tests: it decodes images with
// gozxing (an independent port of ZXing, not the encoder qr uses) and
// rasterises the SVGs that package qr writes. Only tests import it.
package qrtest

import (
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	zqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Decode returns the text of the QR code in img. It tries what a camera
// app would (the hybrid binarizer, finder pattern detection), then a
// global threshold, which suits large modules better, and then reads img
// as a pure code, which needs no quiet zone.
func Decode(img image.Image) (string, error) {
	src := gozxing.NewLuminanceSourceFromImage(img)
	var errs []string
	for _, try := range []struct {
		binarizer func(gozxing.LuminanceSource) gozxing.Binarizer
		hint      gozxing.DecodeHintType
	}{
		{gozxing.NewHybridBinarizer, gozxing.DecodeHintType_TRY_HARDER},
		{gozxing.NewGlobalHistgramBinarizer, gozxing.DecodeHintType_TRY_HARDER},
		{gozxing.NewHybridBinarizer, gozxing.DecodeHintType_PURE_BARCODE},
		{gozxing.NewGlobalHistgramBinarizer, gozxing.DecodeHintType_PURE_BARCODE},
	} {
		bmp, err := gozxing.NewBinaryBitmap(try.binarizer(src))
		if err != nil {
			return "", err
		}
		res, err := zqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{try.hint: true})
		if err == nil {
			return res.GetText(), nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("no QR code found: %s", strings.Join(errs, "; "))
}

// SVG is an SVG written by package qr, read back.
type SVG struct {
	Width, Height string // the attributes
	Modules       int    // the viewBox's side, quiet zone included
	Foreground    color.RGBA
	Background    color.RGBA
	// Image has scale pixels per module.
	Image *image.RGBA
}

// ParseSVG reads an SVG in the form package qr writes (a viewBox from 0 0
// of n by n, a background rect, one path of rectangles drawn with absolute
// M and relative h and v) and rasterises it at scale pixels per module.
// Anything else is an error.
func ParseSVG(b []byte, scale int) (*SVG, error) {
	var doc struct {
		XMLName xml.Name `xml:"http://www.w3.org/2000/svg svg"`
		Width   string   `xml:"width,attr"`
		Height  string   `xml:"height,attr"`
		ViewBox string   `xml:"viewBox,attr"`
		Rect    []struct {
			Width  string `xml:"width,attr"`
			Height string `xml:"height,attr"`
			Fill   string `xml:"fill,attr"`
		} `xml:"rect"`
		Path []struct {
			Fill string `xml:"fill,attr"`
			D    string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("svg: %w", err)
	}
	if len(doc.Rect) != 1 || len(doc.Path) != 1 {
		return nil, fmt.Errorf("svg: want one rect and one path, got %d and %d", len(doc.Rect), len(doc.Path))
	}
	var n int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &n, new(int)); err != nil || doc.ViewBox != fmt.Sprintf("0 0 %d %d", n, n) {
		return nil, fmt.Errorf("svg: viewBox %q is not 0 0 n n", doc.ViewBox)
	}
	if doc.Rect[0].Width != strconv.Itoa(n) || doc.Rect[0].Height != strconv.Itoa(n) {
		return nil, fmt.Errorf("svg: background rect %+v does not cover the viewBox", doc.Rect[0])
	}
	s := &SVG{Width: doc.Width, Height: doc.Height, Modules: n}
	var err error
	if s.Background, err = parseFill(doc.Rect[0].Fill); err != nil {
		return nil, err
	}
	if s.Foreground, err = parseFill(doc.Path[0].Fill); err != nil {
		return nil, err
	}
	s.Image = image.NewRGBA(image.Rect(0, 0, n*scale, n*scale))
	draw.Draw(s.Image, s.Image.Bounds(), image.NewUniform(s.Background), image.Point{}, draw.Src)
	fg := image.NewUniform(s.Foreground)
	// Each subpath "M x y h w v 1 h -w z" is a rectangle; take the
	// bounding box of its corners.
	for _, sub := range strings.Split(doc.Path[0].D, "z") {
		if sub == "" {
			continue
		}
		var x, y, w, h, back int
		if _, err := fmt.Sscanf(sub, "M%d %dh%dv%dh%d", &x, &y, &w, &h, &back); err != nil || back != -w || w <= 0 || h <= 0 ||
			sub != fmt.Sprintf("M%d %dh%dv%dh%d", x, y, w, h, back) {
			return nil, fmt.Errorf("svg: subpath %q is not M x y h w v h h -w", sub)
		}
		if x < 0 || y < 0 || x+w > n || y+h > n {
			return nil, fmt.Errorf("svg: subpath %q leaves the viewBox", sub)
		}
		draw.Draw(s.Image, image.Rect(x*scale, y*scale, (x+w)*scale, (y+h)*scale), fg, image.Point{}, draw.Src)
	}
	return s, nil
}

func parseFill(f string) (color.RGBA, error) {
	var c color.RGBA
	if len(f) != 7 || f[0] != '#' {
		return c, fmt.Errorf("svg: fill %q is not #rrggbb", f)
	}
	v, err := strconv.ParseUint(f[1:], 16, 32)
	if err != nil {
		return c, fmt.Errorf("svg: fill %q is not #rrggbb", f)
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, nil
}
