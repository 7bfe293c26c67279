// Package qr turns text into QR code images. It builds the module matrix
// with github.com/boombuler/barcode and renders it itself, as a two-colour
// PNG or as an SVG with one path, so that the size, the quiet zone and the
// colours are exactly what the caller asked for.
//
// It knows nothing about links, HTTP or the store: callers hand it the text
// to encode (for qredge, a link's qr_url) and the options, and get bytes
// back. It must never refuse a rendering a phone could scan nor produce one
// it could not: Options.Validate holds the rules (sizes, quiet zone,
// contrast) that the API and the CLI share.
package qr

import (
	"fmt"
	"strings"

	"github.com/boombuler/barcode"
	bqr "github.com/boombuler/barcode/qr"
)

// Revision changes whenever the same text and options may render to
// different bytes: bump it with any change to this package's output or an
// upgrade of the encoder, so that ETags built on it change too.
const Revision = 1

// Level is a QR error correction level: the share of the code that may be
// damaged or covered and still scan.
type Level byte

// The four levels of the QR specification. Higher levels make denser codes.
const (
	L Level = iota // about 7%
	M              // about 15%
	Q              // about 25%
	H              // about 30%
)

// String returns "L", "M", "Q" or "H".
func (l Level) String() string {
	if l > H {
		return fmt.Sprintf("Level(%d)", byte(l))
	}
	return string("LMQH"[l])
}

// ParseLevel parses "L", "M", "Q" or "H", in any case.
func ParseLevel(s string) (Level, bool) {
	if len(s) != 1 {
		return 0, false
	}
	i := strings.IndexByte("LMQH", s[0]&^0x20) // &^0x20: upper case
	if i < 0 {
		return 0, false
	}
	return Level(i), true
}

// Code is the module matrix of one QR code, without its quiet zone.
type Code struct {
	n    int
	dark []bool // row-major, n*n
}

// Encode builds the QR code of text at level, in the smallest version that
// holds it (byte mode for URLs; numeric or alphanumeric when the text
// allows).
func Encode(text string, level Level) (*Code, error) {
	if text == "" {
		return nil, fmt.Errorf("cannot encode an empty text as a QR code")
	}
	var ecl bqr.ErrorCorrectionLevel
	switch level {
	case L:
		ecl = bqr.L
	case M:
		ecl = bqr.M
	case Q:
		ecl = bqr.Q
	case H:
		ecl = bqr.H
	default:
		return nil, fmt.Errorf("unknown QR error correction level %d", byte(level))
	}
	scheme := barcode.ColorScheme8
	bc, err := bqr.EncodeWithColor(text, ecl, bqr.Auto, scheme)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %d bytes as a QR code at level %s: %w", len(text), level, err)
	}
	b := bc.Bounds()
	if b.Dx() != b.Dy() || b.Dx() < 21 {
		panic(fmt.Sprintf("BUG: QR encoder returned a %dx%d matrix", b.Dx(), b.Dy()))
	}
	c := &Code{n: b.Dx(), dark: make([]bool, b.Dx()*b.Dy())}
	for y := 0; y < c.n; y++ {
		for x := 0; x < c.n; x++ {
			c.dark[y*c.n+x] = bc.At(b.Min.X+x, b.Min.Y+y) == scheme.Foreground
		}
	}
	return c, nil
}

// Modules returns the number of modules on a side, without the quiet zone:
// 21 for version 1, 4 more for each version after it.
func (c *Code) Modules() int { return c.n }

// Dark reports whether the module in column x and row y is dark.
func (c *Code) Dark(x, y int) bool { return c.dark[y*c.n+x] }
