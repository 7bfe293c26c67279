package qr

import (
	"fmt"
	"image/color"
	"math"
	"strings"
)

// MinContrast is the least WCAG contrast ratio between the foreground and
// the background that Options.Validate accepts.
const MinContrast = 4.5

// ParseColor parses an opaque RGB colour written as 6 or 3 hex digits,
// in any case, with or without a leading '#': "1a2b3c", "#FFF".
func ParseColor(s string) (color.RGBA, bool) {
	s = strings.TrimPrefix(s, "#")
	var d [6]byte
	switch len(s) {
	case 6:
		for i := range d {
			v, ok := hexDigit(s[i])
			if !ok {
				return color.RGBA{}, false
			}
			d[i] = v
		}
	case 3:
		for i := 0; i < 3; i++ {
			v, ok := hexDigit(s[i])
			if !ok {
				return color.RGBA{}, false
			}
			d[2*i], d[2*i+1] = v, v
		}
	default:
		return color.RGBA{}, false
	}
	return color.RGBA{R: d[0]<<4 | d[1], G: d[2]<<4 | d[3], B: d[4]<<4 | d[5], A: 0xff}, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// FormatColor returns c as 6 lower-case hex digits, the form ParseColor
// reads and SVG fills use after a '#'. Alpha is ignored.
func FormatColor(c color.RGBA) string {
	return fmt.Sprintf("%02x%02x%02x", c.R, c.G, c.B)
}

// Luminance returns the WCAG 2 relative luminance of c, from 0 (black) to
// 1 (white).
func Luminance(c color.RGBA) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// Contrast returns the WCAG 2 contrast ratio of a and b, from 1 (equal
// luminance) to 21 (black and white), in either order.
func Contrast(a, b color.RGBA) float64 {
	la, lb := Luminance(a), Luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// checkColors returns why fg on bg would scan poorly, or "" if it scans:
// the foreground must be darker than the background (many phone readers
// fail on inverted codes) and their contrast ratio at least MinContrast.
func checkColors(fg, bg color.RGBA) string {
	rule := fmt.Sprintf("a scannable code needs a foreground darker than its background with a WCAG contrast ratio of at least %g:1", MinContrast)
	if Luminance(fg) >= Luminance(bg) {
		return fmt.Sprintf("fg %s is not darker than bg %s (inverted codes fail on many phone readers): %s", FormatColor(fg), FormatColor(bg), rule)
	}
	if r := Contrast(fg, bg); r < MinContrast {
		// Round down, so that a refused ratio never reads as 4.50.
		return fmt.Sprintf("fg %s on bg %s has a contrast ratio of %.2f:1: %s", FormatColor(fg), FormatColor(bg), math.Floor(r*100)/100, rule)
	}
	return ""
}
