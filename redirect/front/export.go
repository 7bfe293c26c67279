package front

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/qredge/qredge/redirect"
)

// ExportLinks is the edge admin listener's GET /links: every link the
// table holds, as JSON lines (the format of 'qredge links export --format
// jsonl', with versions and times), for restoring a lost Redis from a
// running edge ('qredge links export --from-edge'). The dataset id the
// table holds (dataset()) is in the Qredge-Dataset header.
func ExportLinks(t *redirect.Table, dataset func() string) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /links", func(w http.ResponseWriter, r *http.Request) {
			if !t.Ready() {
				http.Error(w, "the table is not loaded yet", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/jsonl")
			w.Header().Set("Qredge-Dataset", dataset())
			w.Header().Set("Qredge-Links", strconv.Itoa(t.Len()))
			writeTable(w, t)
		})
	}
}

// writeTable streams every link of t to w as JSON lines. The admin
// listener's write timeout is extended as lines go out, so a large table
// is not cut off.
func writeTable(w http.ResponseWriter, t *redirect.Table) {
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	err := t.EachLink(func(l *redirect.Link) error {
		sl, err := l.Stored()
		if err != nil {
			return err
		}
		if n++; n%10000 == 0 {
			rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		return enc.Encode(sl)
	})
	if err != nil {
		// The status is sent: end the body with a line no importer
		// takes for a link, so a cut export never passes for a whole one.
		bw.WriteString("{\"error\": " + strconv.Quote(err.Error()) + "}\n")
	}
	bw.Flush()
}
