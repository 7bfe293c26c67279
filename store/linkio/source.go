package linkio

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
	"github.com/qredge/qredge/store/snapshot"
)

// Format is a file format of links.
type Format string

// The formats of store/linkfile.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// FormatOfName returns the format a file name's extension says: .csv,
// or .jsonl or .ndjson.
func FormatOfName(name string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV, true
	case ".jsonl", ".ndjson":
		return JSONL, true
	}
	return "", false
}

// ParseFormat returns the format of a --format flag's value, else of the
// file name's extension, else def ("": the name must tell).
func ParseFormat(flagValue, name string, def Format) (Format, error) {
	switch flagValue {
	case "csv", "jsonl":
		return Format(flagValue), nil
	case "":
	default:
		return "", fmt.Errorf("--format %q: want csv or jsonl", flagValue)
	}
	if f, ok := FormatOfName(name); ok {
		return f, nil
	}
	if def == "" {
		return "", fmt.Errorf("cannot tell the format of %q by its extension (.csv, .jsonl or .ndjson): give --format csv or --format jsonl", name)
	}
	return def, nil
}

// Source gives the links of a file one by one.
type Source interface {
	// Next returns the next link and the line it starts on, or io.EOF. A
	// rowErr fails that row only (the link, if any, names it); any other
	// error ends the file.
	Next() (l *store.Link, line int, rowErr, err error)
}

// NewSource returns the source of r in format f. With keepServerFields,
// JSON lines keep their versions and times, as a restore needs them.
func NewSource(r io.Reader, f Format, keepServerFields bool) (Source, error) {
	if f == CSV {
		cr, err := linkfile.NewCSVReader(r)
		if err != nil {
			return nil, err
		}
		return csvSource{cr}, nil
	}
	return jsonlSource{linkfile.NewJSONLReader(r, keepServerFields)}, nil
}

type csvSource struct{ r *linkfile.CSVReader }

func (s csvSource) Next() (*store.Link, int, error, error) {
	l, err := s.r.Read()
	var re *linkfile.RowError
	if errors.As(err, &re) {
		return l, re.Line, &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: re.Fields}, nil
	}
	return l, s.r.Line(), nil, err
}

type jsonlSource struct{ r *linkfile.JSONLReader }

func (s jsonlSource) Next() (*store.Link, int, error, error) {
	l, err := s.r.Read()
	var le *linkfile.LineError
	if errors.As(err, &le) {
		return l, le.Line, le.Err, nil
	}
	return l, s.r.Line(), nil, err
}

// snapshotSource gives the links of a snapshot; line is the link's
// position.
type snapshotSource struct {
	links []*store.Link
	i     int
}

// NewSnapshotSource returns the links of an edge's snapshot, decoded in
// full first: a damaged snapshot gives nothing.
func NewSnapshotSource(m snapshot.Meta, frames [][]byte) (Source, error) {
	s := &snapshotSource{links: make([]*store.Link, 0, m.Links)}
	err := snapshot.Decode(func(i int) ([]byte, error) { return frames[i], nil }, len(frames), 0,
		func(ls []*store.Link) { s.links = append(s.links, ls...) })
	return s, err
}

func (s *snapshotSource) Next() (*store.Link, int, error, error) {
	if s.i == len(s.links) {
		return nil, s.i, nil, io.EOF
	}
	s.i++
	return s.links[s.i-1], s.i, nil, nil
}
