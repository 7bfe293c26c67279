package linkfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/strictjson"
)

// MaxJSONLine bounds one line of JSON lines: far above the largest valid
// link.
const MaxJSONLine = 16 << 20

// LineError is returned by JSONLReader.Read for a line that cannot be
// decoded. Reading can continue with the next line.
type LineError struct {
	Line int   // 1-based
	Err  error // a *store.Error naming what is wrong
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: %s", e.Line, store.ErrorMessage(e.Err))
}

func (e *LineError) Unwrap() error { return e.Err }

// JSONLReader reads links from JSON lines: one link object a line, with
// the keys of the API's link objects exactly ("Destination" is not
// "destination"). Blank lines are skipped, and a byte order mark first.
type JSONLReader struct {
	sc   *bufio.Scanner
	line int
	keep bool
}

// NewJSONLReader returns a JSONLReader of r. With keepServerFields, the
// fields the server sets (version, created_at, updated_at) are decoded
// into the links, as a restore needs them; otherwise they are dropped,
// as are short_url and qr_url.
func NewJSONLReader(r io.Reader, keepServerFields bool) *JSONLReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxJSONLine)
	return &JSONLReader{sc: sc, keep: keepServerFields}
}

// jsonLine is a link as exported: the fields a client writes, and those
// the server sets as raw values, to be dropped or kept.
type jsonLine struct {
	Input
	Version   json.RawMessage `json:"version"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	ShortURL  json.RawMessage `json:"short_url"`
	QRURL     json.RawMessage `json:"qr_url"`
	// Reached is the server's scan_limit_reached_at, kept like the times.
	Reached json.RawMessage `json:"scan_limit_reached_at"`
	// PasswordProtected is what the API shows of a password: a line that
	// says true must carry the password or its hash, so that a link
	// exported through the API (which never gives hashes) is not imported
	// without its protection.
	PasswordProtected bool `json:"password_protected"`
}

// keepServerFields decodes the version and times into l.
func (jl *jsonLine) keepServerFields(l *store.Link) error {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  any
	}{{"version", jl.Version, &l.Version}, {"created_at", jl.CreatedAt, &l.CreatedAt}, {"updated_at", jl.UpdatedAt, &l.UpdatedAt},
		{"scan_limit_reached_at", jl.Reached, &l.ScanLimitReachedAt}} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

// Line returns the line of the link last returned by Read, or of the
// error Read returned.
func (r *JSONLReader) Line() int { return r.line }

// Read returns the link of the next line, or io.EOF after the last.
//
// A line that cannot be decoded gives a *LineError together with the link
// as far as it could be decoded (to name it in messages); the next Read
// continues with the next line. Any other error is a read error, such as
// a line longer than MaxJSONLine, and ends the file.
func (r *JSONLReader) Read() (*store.Link, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if r.line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var jl jsonLine
		if b[0] != '{' {
			return &store.Link{}, &LineError{r.line, store.Errorf(store.EINVALID, "invalid JSON: want a JSON object, one link a line")}
		}
		// Each value at fault named by its path, as the API does.
		if err := strictjson.Unmarshal(b, &jl); err != nil {
			json.NewDecoder(bytes.NewReader(b)).Decode(&jl) // best effort, so the message can name the code
			return jl.Link(), &LineError{r.line, err}
		}
		l := jl.Link()
		if jl.PasswordProtected && l.Password == "" && l.PasswordHash == "" {
			return l, &LineError{r.line, &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: []store.FieldError{{Field: "password",
				Message: "the link is password_protected but the line has neither password nor password_hash (exports through the API leave hashes out: set a password)"}}}}
		}
		if r.keep {
			if err := jl.keepServerFields(l); err != nil {
				return l, &LineError{r.line, store.Errorf(store.EINVALID, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))}
			}
		}
		return l, nil
	}
	if err := r.sc.Err(); err != nil {
		r.line++
		return nil, fmt.Errorf("cannot read line %d: %w", r.line, err)
	}
	return nil, io.EOF
}

// JSONLWriter writes links as JSON lines, as the API encodes them (URLs
// keep their '&').
type JSONLWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewJSONLWriter returns a JSONLWriter to w. It buffers: call Flush at the
// end.
func NewJSONLWriter(w io.Writer) *JSONLWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONLWriter{bw: bw, enc: enc}
}

// Write writes the line of l.
func (w *JSONLWriter) Write(l *store.Link) error { return w.enc.Encode(l) }

// WriteRaw writes a link object as the API returned it (with short_url
// and qr_url), which must be one line of JSON.
func (w *JSONLWriter) WriteRaw(obj json.RawMessage) error {
	w.bw.Write(obj)
	return w.bw.WriteByte('\n')
}

// Flush writes any buffered data.
func (w *JSONLWriter) Flush() error { return w.bw.Flush() }
