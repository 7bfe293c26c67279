package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/color"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/qredge/qredge/qr"
	"github.com/qredge/qredge/store"
)

// QRURL returns the URL a printed QR code of l encodes: its short URL with
// a bare "?q", the marker by which the edge tells scans of printed codes
// from clicks on the short URL.
func (s *Server) QRURL(l *store.Link) string { return s.ShortURL(l) + "?q" }

// qrQuery is a parsed GET /api/v1/links/{code}/qr query.
type qrQuery struct {
	format   string // "png" or "svg"
	level    qr.Level
	opts     qr.Options
	download bool
}

// parseQRQuery reads format, size, level, margin, fg, bg and download;
// every error names its parameter.
func parseQRQuery(v url.Values) (qrQuery, error) {
	q := qrQuery{format: "png", level: qr.M, opts: qr.DefaultOptions()}
	if s := v.Get("format"); s != "" {
		if s != "png" && s != "svg" {
			return q, badRequest("format", "want png or svg, got %q", s)
		}
		q.format = s
	}
	intParam := func(name string, min, max int, unit string, dst *int) error {
		s := v.Get(name)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min || n > max {
			return badRequest(name, "want a whole number of %s from %d to %d, got %q", unit, min, max, s)
		}
		*dst = n
		return nil
	}
	if err := intParam("size", qr.MinSize, qr.MaxSize, "pixels", &q.opts.Size); err != nil {
		return q, err
	}
	if err := intParam("margin", 0, qr.MaxMargin, "modules", &q.opts.Margin); err != nil {
		return q, err
	}
	if s := v.Get("level"); s != "" {
		var ok bool
		if q.level, ok = qr.ParseLevel(s); !ok {
			return q, badRequest("level", "want L, M, Q or H, got %q", s)
		}
	}
	for _, c := range []struct {
		name string
		dst  *color.RGBA
	}{{"fg", &q.opts.Foreground}, {"bg", &q.opts.Background}} {
		if s := v.Get(c.name); s != "" {
			var ok bool
			if *c.dst, ok = qr.ParseColor(s); !ok {
				return q, badRequest(c.name, "want an RGB colour as 6 or 3 hex digits (a leading '#' is fine), such as 1a2b3c, got %q", s)
			}
		}
	}
	if s := v.Get("download"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, badRequest("download", "want 1 or 0, got %q", s)
		}
		q.download = b
	}
	if err := q.opts.Validate(); err != nil {
		return q, qrOptionError(err, v)
	}
	return q, nil
}

// qrOptionError turns a *qr.OptionError into a 400 naming the parameter.
// A colour pair that cannot scan is blamed on fg unless only bg was sent.
func qrOptionError(err error, v url.Values) error {
	oe, ok := err.(*qr.OptionError)
	if !ok {
		return err
	}
	field := oe.Option
	if field == "fg" && !v.Has("fg") {
		field = "bg"
	}
	// The field leads the detail already: "size: 64 is too small", not
	// "size: size 64 is too small".
	return badRequest(field, "%s", strings.TrimPrefix(oe.Message, field+" "))
}

// etag is a strong validator of the image: a hash of everything that
// shapes its bytes.
func (q *qrQuery) etag(text string) string {
	h := sha256.New()
	fmt.Fprintf(h, "qr%d\x00%s\x00%s\x00%s\x00%d\x00%d\x00%s\x00%s", qr.Revision, text, q.format, q.level,
		q.opts.Size, q.opts.Margin, qr.FormatColor(q.opts.Foreground), qr.FormatColor(q.opts.Background))
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// noneMatch reports whether an If-None-Match header matches tag, by the
// weak comparison RFC 9110 prescribes for it.
func noneMatch(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

func (s *Server) linkQR(w http.ResponseWriter, r *http.Request) error {
	domain, code, err := target(r)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q, err := parseQRQuery(v)
	if err != nil {
		return err
	}
	l, err := s.store.GetLink(r.Context(), domain, code)
	if err != nil {
		return err
	}
	text := s.QRURL(l)
	c, err := qr.Encode(text, q.level)
	if err != nil {
		return fmt.Errorf("cannot encode the QR code of %s: %w", text, err)
	}
	if _, err := c.Fit(q.opts); err != nil {
		return qrOptionError(err, v)
	}
	tag := q.etag(text)
	h := w.Header()
	if inm := r.Header.Get("If-None-Match"); inm != "" && noneMatch(inm, tag) {
		h.Set("ETag", tag)
		h.Set("Cache-Control", "private, max-age=86400")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	var body []byte
	ctype := "image/png"
	if q.format == "svg" {
		body, err = c.SVG(q.opts)
		ctype = "image/svg+xml"
	} else {
		body, err = c.PNG(q.opts)
	}
	if err != nil {
		return fmt.Errorf("cannot render the QR code of %s: %w", text, err) // parseQRQuery and Fit checked the options
	}
	disposition := "inline"
	if q.download {
		disposition = "attachment"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("ETag", tag)
	h.Set("Cache-Control", "private, max-age=86400")
	// target checked the code: only A-Z, a-z, 0-9, '_' and '-'.
	h.Set("Content-Disposition", fmt.Sprintf(`%s; filename="%s.%s"`, disposition, code, q.format))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
