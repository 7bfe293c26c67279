package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
)

// TestBackupRoute: POST /api/v1/backup hands the request to Config.Backup
// after an admin key, and its flushes reach the client; a failure before
// the first byte is a problem.
func TestBackupRoute(t *testing.T) {
	fail := false
	backup := func(w http.ResponseWriter, r *http.Request) {
		if fail {
			WriteProblem(w, NewProblem(store.Errorf(store.EUNAVAILABLE, "cannot read the database")))
			return
		}
		body := strings.Repeat("b", 100000)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		w.Write([]byte(body))
	}
	e, clk := mustStartProtected(t, nil, func(c *Config) { c.Backup = backup; c.RateLimit, c.RateBurst = 1, 2 })
	clk.Advance(time.Minute) // the buckets full again after the set-up
	r := e.call("POST", "/api/v1/backup", e.admin, "", nil, 200, nil)
	if len(r.body) != 100000 {
		t.Fatalf("backup body: %d bytes", len(r.body))
	}
	fail = true
	e.call("POST", "/api/v1/backup", e.admin, "", nil, 503, nil)
	e.call("POST", "/api/v1/backup", "", "", nil, 401, nil)
	e.call("POST", "/api/v1/backup", e.write, "", nil, 403, nil)
	e.call("POST", "/api/v1/backup", e.write, "", nil, 403, nil)
	e.call("POST", "/api/v1/backup", e.write, "", nil, 429, nil)
}
