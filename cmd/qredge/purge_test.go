package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestServePurgeStats: in qredge serve, deleting a link with
// purge_stats=true removes its scans, so a link created again with the
// same code starts from zero; without it, the scans stay.
func TestServePurgeStats(t *testing.T) {
	dir := t.TempDir()
	s, stderr := mustStartServe(t, dir, nil)
	m := apiKeyLine.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no 'api key:' line:\n%s", stderr)
	}
	key, base := m[1], "http://"+s.Addr()
	total := func(code string) int64 {
		t.Helper()
		resp, body := req(t, "GET", base+"/api/v1/links/"+code+"/stats", key, "")
		if resp.StatusCode != 200 {
			t.Fatalf("stats of %s: %d %s", code, resp.StatusCode, body)
		}
		var st struct {
			Total int64 `json:"total"`
		}
		json.Unmarshal([]byte(body), &st)
		return st.Total
	}
	create := func(code string) {
		t.Helper()
		if resp, body := req(t, "POST", base+"/api/v1/links", key, `{"code":"`+code+`","destination":"https://example.com/"}`); resp.StatusCode != 201 {
			t.Fatalf("create %s: %d %s", code, resp.StatusCode, body)
		}
	}
	for _, code := range []string{"gone", "kept"} {
		create(code)
		for i := 0; i < 5; i++ {
			if resp, _ := req(t, "GET", base+"/"+code, "", ""); resp.StatusCode != 302 {
				t.Fatalf("scan %s: %d", code, resp.StatusCode)
			}
		}
	}
	for deadline := time.Now().Add(10 * time.Second); total("gone") < 5 || total("kept") < 5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("scans not counted: gone %d, kept %d", total("gone"), total("kept"))
		}
	}
	if resp, body := req(t, "DELETE", base+"/api/v1/links/gone?purge_stats=true", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete with purge: %d %s", resp.StatusCode, body)
	}
	if resp, body := req(t, "DELETE", base+"/api/v1/links/kept", key, ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	create("gone")
	create("kept")
	if g, k := total("gone"), total("kept"); g != 0 || k != 5 {
		t.Fatalf("after re-creating: gone %d (want 0, purged), kept %d (want 5)", g, k)
	}
}
