package linkfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/strictjson"
)

// CSVColumns are the columns a CSVWriter writes, in order.
var CSVColumns = []string{
	"code", "domain", "destination", "status", "forward_query", "query_precedence", "disabled",
	"tags", "rules", "variants", "schedule", "title", "notes", "gone_url", "max_scans", "max_scans_include_bots",
	"password_hash", "password_protected", "version", "created_at", "updated_at",
}

// column identifies what a cell holds.
type column uint8

const (
	colIgnored column = iota // set by the server: accepted and ignored
	colCode
	colDomain
	colDestination
	colStatus
	colForwardQuery
	colQueryPrecedence
	colDisabled
	colTags
	colRules
	colVariants
	colSchedule
	colTitle
	colNotes
	colGoneURL
	colMaxScans
	colMaxScansIncludeBots
	colPassword
	colPasswordHash
	colPasswordProtected // a row that says true must carry password or password_hash
)

var columnByName = map[string]column{
	"code": colCode, "domain": colDomain, "destination": colDestination, "status": colStatus,
	"forward_query": colForwardQuery, "query_precedence": colQueryPrecedence, "disabled": colDisabled,
	"tags": colTags, "rules": colRules, "variants": colVariants, "schedule": colSchedule,
	"title": colTitle, "notes": colNotes, "gone_url": colGoneURL, "max_scans": colMaxScans,
	"max_scans_include_bots": colMaxScansIncludeBots, "password": colPassword, "password_hash": colPasswordHash,
	"password_protected": colPasswordProtected,
	"version":            colIgnored, "created_at": colIgnored, "updated_at": colIgnored,
	"short_url": colIgnored, "qr_url": colIgnored,
}

// RowError is returned by CSVReader.Read for a row whose cells cannot be
// parsed. Reading can continue with the next row.
type RowError struct {
	Index  int // 0-based index of the data row (the header not counted)
	Line   int // 1-based line in the file where the row starts
	Fields []store.FieldError
}

func (e *RowError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, fe := range e.Fields {
		parts[i] = fe.String()
	}
	return fmt.Sprintf("line %d: %s", e.Line, strings.Join(parts, "; "))
}

// CSVReader reads links from CSV with a header row.
type CSVReader struct {
	cr     *csv.Reader
	cols   []column
	names  []string // header cells as written, for messages
	line   int
	index  int
	fatal  error
	header int // cells in the header
}

// bom is the UTF-8 byte order mark some spreadsheets write first.
var bom = []byte{0xEF, 0xBB, 0xBF}

// NewCSVReader reads the header row of r and returns a CSVReader of the rows
// after it. It fails when the header is missing, names an unknown column
// or a column twice, or lacks destination.
func NewCSVReader(r io.Reader) (*CSVReader, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	// Spreadsheet programs in many locales write ';' between cells: a
	// header row with ';' and no ',' says the file is one of those.
	if line, _ := br.Peek(br.Size()); len(line) > 0 {
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		if bytes.IndexByte(line, ';') >= 0 && bytes.IndexByte(line, ',') < 0 {
			cr.Comma = ';'
		}
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the CSV is empty: a header row naming the columns (at least destination) is required")
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the CSV header: %w", err)
	}
	rd := &CSVReader{cr: cr, cols: make([]column, len(header)), names: make([]string, len(header)), header: len(header)}
	seen := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		rd.names[i] = name
		if name == "" {
			return nil, fmt.Errorf("CSV header: column %d has no name", i+1)
		}
		c, ok := columnByName[name]
		if !ok {
			return nil, fmt.Errorf("CSV header: unknown column %q (known: %s, short_url, qr_url)", strings.TrimSpace(h), strings.Join(CSVColumns, ", "))
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("CSV header: column %q appears twice (columns %d and %d)", name, j+1, i+1)
		}
		seen[name] = i
		rd.cols[i] = c
	}
	if _, ok := seen["destination"]; !ok {
		return nil, errors.New("CSV header: the destination column is required")
	}
	cr.FieldsPerRecord = len(header)
	return rd, nil
}

// Line returns the line where the row last returned by Read starts, or
// where the syntax error Read returned is.
func (r *CSVReader) Line() int { return r.line }

// Read returns the link of the next row, or io.EOF after the last.
//
// A row whose cells cannot be parsed, or with a different number of cells
// than the header, gives a *RowError together with a link holding the cells
// that could be parsed (to name it in messages); the next Read continues
// with the next row. Any other error is a CSV syntax error, such as a stray
// quote; it names the line and every later Read returns it again.
func (r *CSVReader) Read() (*store.Link, error) {
	if r.fatal != nil {
		return nil, r.fatal
	}
	rec, err := r.cr.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	var pe *csv.ParseError
	if err != nil && !(errors.As(err, &pe) && errors.Is(err, csv.ErrFieldCount)) {
		if pe != nil {
			r.line = pe.StartLine
		}
		r.fatal = fmt.Errorf("invalid CSV: %w", err)
		return nil, r.fatal
	}
	r.line, _ = r.cr.FieldPos(0)
	index := r.index
	r.index++
	l := &store.Link{}
	var fields []store.FieldError
	if err != nil {
		fields = append(fields, store.FieldError{Message: fmt.Sprintf("the row has %d cells, the header %d", len(rec), r.header)})
	}
	protected := false
	for i := 0; i < len(rec) && i < len(r.cols); i++ {
		if r.cols[i] == colPasswordProtected {
			fields = append(fields, fieldError(r.names[i], parseBool(&protected, strings.TrimSpace(rec[i])))...)
			continue
		}
		fields = append(fields, r.cell(l, r.cols[i], r.names[i], strings.TrimSpace(rec[i]))...)
	}
	if protected && l.Password == "" && l.PasswordHash == "" {
		fields = append(fields, store.FieldError{Field: "password",
			Message: "the link is password_protected but the row has neither password nor password_hash (exports through the API leave hashes out: set a password)"})
	}
	if len(fields) > 0 {
		return l, &RowError{Index: index, Line: r.line, Fields: fields}
	}
	return l, nil
}

// cell sets the field of column c (named name) from the trimmed cell s,
// returning why it cannot: the column, or for a JSON cell each value at
// fault by its path (rules[0].when.device[2]).
func (r *CSVReader) cell(l *store.Link, c column, name, s string) []store.FieldError {
	var err error
	if f := stringField(l, c); f != nil {
		*f = s
		return nil
	}
	switch c {
	case colStatus:
		if s != "" {
			if l.Status, err = strconv.Atoi(s); err != nil {
				return fieldError(name, fmt.Sprintf("must be a number, such as 302, got %q", s))
			}
		}
	case colForwardQuery:
		return fieldError(name, parseBool(&l.ForwardQuery, s))
	case colDisabled:
		return fieldError(name, parseBool(&l.Disabled, s))
	case colTags:
		l.Tags = strings.FieldsFunc(s, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
		if len(l.Tags) == 0 {
			l.Tags = nil
		}
	case colRules:
		if err = decodeJSON(name, s, &l.Rules); len(l.Rules) == 0 {
			l.Rules = nil
		}
	case colVariants:
		if err = decodeJSON(name, s, &l.Variants); len(l.Variants) == 0 {
			l.Variants = nil
		}
	case colSchedule:
		err = decodeJSON(name, s, &l.Schedule)
	case colMaxScans:
		if s != "" {
			if l.MaxScans, err = strconv.ParseInt(s, 10, 64); err != nil {
				return fieldError(name, fmt.Sprintf("must be a whole number, got %q", s))
			}
		}
	case colMaxScansIncludeBots:
		return fieldError(name, parseBool(&l.MaxScansIncludeBots, s))
	}
	if err == nil {
		return nil
	}
	if fe := store.ErrorFields(err); len(fe) > 0 {
		return fe
	}
	return fieldError(name, store.ErrorMessage(err))
}

// stringField returns the link's field a text column sets as it is, or
// nil for the other columns.
func stringField(l *store.Link, c column) *string {
	switch c {
	case colCode:
		return &l.Code
	case colDomain:
		return &l.Domain
	case colDestination:
		return &l.Destination
	case colQueryPrecedence:
		return &l.QueryPrecedence
	case colTitle:
		return &l.Title
	case colNotes:
		return &l.Notes
	case colGoneURL:
		return &l.GoneURL
	case colPassword:
		return &l.Password
	case colPasswordHash:
		return &l.PasswordHash
	}
	return nil
}

func fieldError(name, msg string) []store.FieldError {
	if msg == "" {
		return nil
	}
	return []store.FieldError{{Field: name, Message: msg}}
}

func parseBool(dst *bool, s string) string {
	switch strings.ToLower(s) {
	case "", "false", "0", "no":
		*dst = false
	case "true", "1", "yes":
		*dst = true
	default:
		return fmt.Sprintf("must be true or false (or 1/0, yes/no), got %q", s)
	}
	return ""
}

// decodeJSON decodes the JSON cell s of column name into v as the API
// decodes a body (store/strictjson): keys exactly as named and once, every
// value at fault named by its path under name. An empty cell leaves v as
// it is.
func decodeJSON(name, s string, v any) error {
	if s == "" {
		return nil
	}
	return strictjson.UnmarshalAt(name, []byte(s), v)
}
