package api

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/qredge/qredge/store"
)

// Backuper writes a consistent copy of a store to w, calling begin with
// its size before the first byte (store/boltstore.DB.Backup).
type Backuper interface {
	Backup(w io.Writer, begin func(size int64) error) (int64, error)
}

// BackupHandler returns the handler of POST /api/v1/backup for
// Config.Backup: the copy is streamed as it is read, with its size
// announced. A failure before the first byte is a 503 problem; one while
// streaming cuts the body short of its Content-Length.
func BackupHandler(b Backuper, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		started := false
		n, err := b.Backup(w, func(size int64) error {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="qredge.db"`)
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
			// Flushing makes the adaptor stream instead of buffering the file.
			return http.NewResponseController(w).Flush()
		})
		switch {
		case err != nil && !started:
			log.Error("backup failed", "err", err)
			WriteProblem(w, NewProblem(store.Errorf(store.EUNAVAILABLE, "cannot read the database for a backup: %v", err)))
		case err != nil:
			log.Error("backup failed while streaming", "bytes", n, "err", err)
			panic(http.ErrAbortHandler)
		default:
			log.Info("backup streamed", "bytes", n, "remote", r.RemoteAddr)
		}
	}
}
