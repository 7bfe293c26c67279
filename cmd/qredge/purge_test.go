package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/testwait"
)

// TestServePurgeStats: in qredge serve, deleting a link with
// purge_stats=true removes its scans; without it, the scans stay with the
// deleted link, readable by its created_at and listed in the top list
// with include_deleted. Either way a link created again with the same
// code is another link, and its stats start from zero.
func TestServePurgeStats(t *testing.T) {
	s, key := mustStartServeFirst(t, t.TempDir())
	base := "http://" + s.Addr()
	// call sends a request to serve, wants the status and decodes the
	// answer into v.
	call := func(method, path, body string, want int, v any) {
		t.Helper()
		resp, b := req(t, method, base+path, key, body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		json.Unmarshal([]byte(b), v)
	}
	total := func(code string, query ...string) int64 {
		t.Helper()
		q := ""
		if len(query) > 0 {
			q = "?" + query[0]
		}
		var st struct {
			Total int64 `json:"total"`
		}
		call("GET", "/api/v1/links/"+code+"/stats"+q, "", 200, &st)
		return st.Total
	}
	create := func(code string) string {
		t.Helper()
		var l struct {
			CreatedAt string `json:"created_at"`
		}
		call("POST", "/api/v1/links", `{"code":"`+code+`","destination":"https://example.com/"}`, 201, &l)
		return l.CreatedAt
	}
	created := map[string]string{}
	for _, code := range []string{"gone", "kept"} {
		created[code] = create(code)
		for i := 0; i < 5; i++ {
			if resp, _ := req(t, "GET", base+"/"+code, "", ""); resp.StatusCode != 302 {
				t.Fatalf("scan %s: %d", code, resp.StatusCode)
			}
		}
	}
	testwait.For(t, 10*time.Second, "5 scans of each link counted", func() bool { return total("gone") >= 5 && total("kept") >= 5 })
	if resp, body := req(t, "DELETE", base+"/api/v1/links/gone?purge_stats=true", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete with purge: %d %s", resp.StatusCode, body)
	}
	if resp, body := req(t, "DELETE", base+"/api/v1/links/kept", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	create("gone")
	create("kept")
	if g, k := total("gone"), total("kept"); g != 0 || k != 0 {
		t.Fatalf("after re-creating: gone %d, kept %d, want 0 (new links)", g, k)
	}
	if g, k := total("gone", "created_at="+created["gone"]), total("kept", "created_at="+created["kept"]); g != 0 || k != 5 {
		t.Fatalf("the deleted links: gone %d (want 0, purged), kept %d (want 5)", g, k)
	}
	top := func(query string) []map[string]any {
		t.Helper()
		var st struct {
			Links []map[string]any `json:"links"`
		}
		call("GET", "/api/v1/stats/top?"+query, "", 200, &st)
		return st.Links
	}
	if links := top(""); len(links) != 0 {
		t.Fatalf("top lists deleted links: %v", links)
	}
	if links := top("include_deleted=true"); len(links) != 1 || links[0]["code"] != "kept" || links[0]["deleted"] != true || links[0]["created_at"] != created["kept"] {
		t.Fatalf("top with deleted links: %v", links)
	}
}
