package linkio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// Lister lists links: a store (Store), the API or an edge's table
// (api/client).
type Lister interface {
	// ForEachLink calls fn for every link (with tag, when not empty) and,
	// from the API, its JSON as the API sent it (else nil).
	ForEachLink(ctx context.Context, tag string, fn func(l *store.Link, raw json.RawMessage) error) error
}

// Export writes the links of from (with tag, when not empty) to w in
// format f and returns how many it wrote. JSON lines keep the API's JSON
// of a link as it was sent (with short_url and qr_url).
func Export(ctx context.Context, from Lister, tag string, f Format, w io.Writer) (int, error) {
	n := 0
	var err error
	if f == CSV {
		bw := bufio.NewWriterSize(w, 64<<10)
		cw := linkfile.NewCSVWriter(bw)
		err = from.ForEachLink(ctx, tag, func(l *store.Link, raw json.RawMessage) error {
			n++
			var api struct {
				PasswordProtected bool `json:"password_protected"`
			}
			if raw != nil {
				json.Unmarshal(raw, &api) // the API's answer decoded already into l
			}
			return cw.WriteProtected(l, api.PasswordProtected)
		})
		if err == nil {
			err = cw.Flush()
		}
		if err == nil {
			err = bw.Flush()
		}
	} else {
		jw := linkfile.NewJSONLWriter(w)
		err = from.ForEachLink(ctx, tag, func(l *store.Link, raw json.RawMessage) error {
			n++
			if raw != nil {
				return jw.WriteRaw(raw)
			}
			return jw.Write(l)
		})
		if err == nil {
			err = jw.Flush()
		}
	}
	if err != nil {
		return n, fmt.Errorf("export stopped after %d links: %w", n, err)
	}
	return n, nil
}

// ExportFile is Export to the file name, written beside it first and
// given its name only once complete: an export that fails half-way leaves
// any older file of that name as it was.
func ExportFile(ctx context.Context, from Lister, tag string, f Format, name string) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".*.tmp")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	defer tmp.Close()
	n, err := Export(ctx, from, tag, f, tmp)
	if err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(tmp.Name(), name)
}
