package linkfile

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
)

// CSVWriter writes links as CSV under a header row of CSVColumns.
type CSVWriter struct {
	cw     *csv.Writer
	header bool // written
	rec    []string
	buf    bytes.Buffer
	enc    *json.Encoder
}

// NewCSVWriter returns a CSVWriter to w. The header row is written with the
// first link, or by Flush when there is none.
func NewCSVWriter(w io.Writer) *CSVWriter {
	cw := &CSVWriter{cw: csv.NewWriter(w), rec: make([]string, len(CSVColumns))}
	cw.enc = json.NewEncoder(&cw.buf)
	// URLs hold '&': keep them readable in the cells.
	cw.enc.SetEscapeHTML(false)
	return cw
}

func (w *CSVWriter) writeHeader() error {
	if w.header {
		return nil
	}
	w.header = true
	return w.cw.Write(CSVColumns)
}

// Write writes the row of l. Like csv.Writer it buffers: call Flush at the
// end.
func (w *CSVWriter) Write(l *store.Link) error { return w.WriteProtected(l, false) }

// WriteProtected is Write for a link that may be password-protected
// without its hash at hand (as the API answers): protected writes
// password_protected true, so that importing the row without a password
// is refused instead of dropping the protection.
func (w *CSVWriter) WriteProtected(l *store.Link, protected bool) error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	rec := w.rec
	rec[0] = l.Code
	rec[1] = l.Domain
	rec[2] = l.Destination
	rec[3] = ""
	if l.Status != 0 {
		rec[3] = strconv.Itoa(l.Status)
	}
	rec[4] = strconv.FormatBool(l.ForwardQuery)
	rec[5] = l.QueryPrecedence
	rec[6] = strconv.FormatBool(l.Disabled)
	rec[7] = strings.Join(l.Tags, " ")
	var err error
	if rec[8], err = w.json(len(l.Rules) > 0, l.Rules); err != nil {
		return fmt.Errorf("link %q: rules: %w", l.Code, err)
	}
	if rec[9], err = w.json(len(l.Variants) > 0, l.Variants); err != nil {
		return fmt.Errorf("link %q: variants: %w", l.Code, err)
	}
	if rec[10], err = w.json(l.Schedule != nil, l.Schedule); err != nil {
		return fmt.Errorf("link %q: schedule: %w", l.Code, err)
	}
	rec[11] = l.Title
	rec[12] = l.Notes
	rec[13] = l.GoneURL
	rec[14] = ""
	if l.MaxScans != 0 {
		rec[14] = strconv.FormatInt(l.MaxScans, 10)
	}
	rec[15] = strconv.FormatBool(l.MaxScansIncludeBots)
	rec[16] = l.PasswordHash
	rec[17] = strconv.FormatBool(protected || l.PasswordHash != "")
	rec[18] = strconv.FormatUint(l.Version, 10)
	rec[19] = formatTime(l.CreatedAt)
	rec[20] = formatTime(l.UpdatedAt)
	return w.cw.Write(rec)
}

// json returns v as compact JSON, or "" when !set.
func (w *CSVWriter) json(set bool, v any) (string, error) {
	if !set {
		return "", nil
	}
	w.buf.Reset()
	if err := w.enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(w.buf.Bytes(), []byte("\n"))), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Flush writes the header if no link was written, then any buffered data,
// and returns the first error of any write.
func (w *CSVWriter) Flush() error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	w.cw.Flush()
	return w.cw.Error()
}
