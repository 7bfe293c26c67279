package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image/color"
	"strconv"
	"sync"
)

// Bounds of Options. The defaults suit print at up to about 10 cm; the
// quiet zone of 4 modules is what the QR specification asks for.
const (
	MinSize       = 64
	MaxSize       = 4096
	DefaultSize   = 512
	MaxMargin     = 16
	DefaultMargin = 4
)

// Options says how to draw a Code. Get defaults from DefaultOptions.
type Options struct {
	// Size is the width and height of the image in pixels, from MinSize
	// to MaxSize, and must leave at least one pixel per module. A PNG is
	// exactly Size pixels square: each module is the largest whole
	// number of pixels that fits, and what is left over pads the code in
	// the background colour, split evenly (so the quiet zone may be a few
	// pixels wider than Margin modules). An SVG gets Size as its width
	// and height and is scaled freely: its viewBox counts modules.
	Size int
	// Margin is the quiet zone around the code, in modules, from 0 to
	// MaxMargin.
	Margin int
	// Foreground (dark modules) and Background are opaque colours; alpha
	// is ignored. The foreground must be darker, with a WCAG contrast
	// ratio of at least MinContrast.
	Foreground, Background color.RGBA
}

// DefaultOptions returns 512 pixels, a quiet zone of 4 modules, black on
// white.
func DefaultOptions() Options {
	return Options{
		Size:       DefaultSize,
		Margin:     DefaultMargin,
		Foreground: color.RGBA{A: 0xff},
		Background: color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff},
	}
}

// OptionError is an option out of bounds. Option is the short name that
// the HTTP API and the CLI give it: "size", "margin", "fg" or "bg".
type OptionError struct {
	Option  string
	Message string
}

func (e *OptionError) Error() string { return e.Message }

// Validate checks o on its own: the bounds of Size and Margin and the
// contrast rule. A Code may still be too large for Size (see Fit). Errors
// are *OptionError.
func (o Options) Validate() error {
	if o.Size < MinSize || o.Size > MaxSize {
		return &OptionError{"size", fmt.Sprintf("size %d is out of range: want %d to %d pixels", o.Size, MinSize, MaxSize)}
	}
	if o.Margin < 0 || o.Margin > MaxMargin {
		return &OptionError{"margin", fmt.Sprintf("margin %d is out of range: want 0 to %d modules", o.Margin, MaxMargin)}
	}
	if msg := checkColors(o.Foreground, o.Background); msg != "" {
		return &OptionError{"fg", msg}
	}
	return nil
}

// Fit returns the pixels per module of c drawn with o, or an *OptionError
// when o.Size leaves less than one pixel per module.
func (c *Code) Fit(o Options) (int, error) {
	total := c.n + 2*o.Margin
	if o.Size < total {
		return 0, &OptionError{"size", fmt.Sprintf("size %d is too small for this code: %d modules and a margin of %d need at least %d pixels", o.Size, c.n, o.Margin, total)}
	}
	return o.Size / total, nil
}

// PNG returns c as a PNG image of o.Size by o.Size pixels with a
// two-colour palette (1 bit per pixel), background first.
//
// It writes the PNG itself rather than through image/png: the rows of a
// module row are all alike, so it packs each once and never holds the
// whole image (16 MiB at 4096 pixels, and ten times the time).
func (c *Code) PNG(o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	scale, err := c.Fit(o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(1024)
	buf.WriteString("\x89PNG\r\n\x1a\n")
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(o.Size))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(o.Size))
	ihdr[8], ihdr[9] = 1, 3 // bit depth 1, colour type 3 (palette)
	writeChunk(&buf, "IHDR", ihdr[:])
	bg, fg := o.Background, o.Foreground
	writeChunk(&buf, "PLTE", []byte{bg.R, bg.G, bg.B, fg.R, fg.G, fg.B})

	var idat bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer)
	defer zlibWriters.Put(zw)
	zw.Reset(&idat)
	// Each row is a filter byte (0, none) and 1 bit per pixel, 1 for the
	// foreground. Rows of padding and quiet zone are all background.
	stride := 1 + (o.Size+7)/8
	blank := make([]byte, stride)
	row := make([]byte, stride)
	off := (o.Size-scale*(c.n+2*o.Margin))/2 + scale*o.Margin
	for y := 0; y < off; y++ {
		zw.Write(blank)
	}
	for my := 0; my < c.n; my++ {
		clear(row)
		for mx := 0; mx < c.n; mx++ {
			if c.dark[my*c.n+mx] {
				for x := off + mx*scale; x < off+(mx+1)*scale; x++ {
					row[1+x/8] |= 0x80 >> (x % 8)
				}
			}
		}
		for i := 0; i < scale; i++ {
			zw.Write(row)
		}
	}
	for y := off + c.n*scale; y < o.Size; y++ {
		zw.Write(blank)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("cannot compress QR code PNG: %w", err) // a bytes.Buffer never fails
	}
	writeChunk(&buf, "IDAT", idat.Bytes())
	writeChunk(&buf, "IEND", nil)
	return buf.Bytes(), nil
}

// zlibWriters saves the compressor's state (about 800 KB) per image.
var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// writeChunk writes one PNG chunk: length, type, data, CRC of type and data.
func writeChunk(buf *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	buf.Write(n[:])
	start := buf.Len()
	buf.WriteString(typ)
	buf.Write(data)
	binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(buf.Bytes()[start:]))
	buf.Write(n[:])
}

// SVG returns c as an SVG document whose width and height are o.Size and
// whose viewBox counts modules, quiet zone included: a background rect
// and one path with every dark module, drawn with crisp edges.
func (c *Code) SVG(o Options) ([]byte, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if _, err := c.Fit(o); err != nil {
		return nil, err
	}
	total := strconv.Itoa(c.n + 2*o.Margin)
	size := strconv.Itoa(o.Size)
	b := make([]byte, 0, 512+c.n*c.n)
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<svg xmlns="http://www.w3.org/2000/svg" width="`...)
	b = append(b, size...)
	b = append(b, `" height="`...)
	b = append(b, size...)
	b = append(b, `" viewBox="0 0 `...)
	b = append(b, total...)
	b = append(b, ' ')
	b = append(b, total...)
	b = append(b, `" shape-rendering="crispEdges">`+"\n"+`<rect width="`...)
	b = append(b, total...)
	b = append(b, `" height="`...)
	b = append(b, total...)
	b = append(b, `" fill="#`...)
	b = append(b, FormatColor(o.Background)...)
	b = append(b, `"/>`+"\n"+`<path fill="#`...)
	b = append(b, FormatColor(o.Foreground)...)
	b = append(b, `" d="`...)
	// One closed rectangle per horizontal run of dark modules:
	// M<x> <y>h<run>v1h-<run>z.
	for y := 0; y < c.n; y++ {
		for x := 0; x < c.n; {
			if !c.dark[y*c.n+x] {
				x++
				continue
			}
			run := 1
			for x+run < c.n && c.dark[y*c.n+x+run] {
				run++
			}
			b = append(b, 'M')
			b = strconv.AppendInt(b, int64(x+o.Margin), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(y+o.Margin), 10)
			b = append(b, 'h')
			b = strconv.AppendInt(b, int64(run), 10)
			b = append(b, "v1h-"...)
			b = strconv.AppendInt(b, int64(run), 10)
			b = append(b, 'z')
			x += run
		}
	}
	b = append(b, `"/>`+"\n</svg>\n"...)
	return b, nil
}
