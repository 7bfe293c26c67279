package api

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

type auditPage struct {
	Entries    []store.AuditEntry `json:"entries"`
	NextCursor string             `json:"next_cursor"`
}

func TestAudit(t *testing.T) {
	e, _ := mustStartProtected(t, nil, nil)
	var l apiLink
	e.call("POST", "/api/v1/links", e.write, `{"code":"a","destination":"https://example.com/1"}`, nil, 201, &l)
	e.call("PATCH", "/api/v1/links/a", e.write, `{"destination":"https://example.com/2"}`, nil, 200, nil)
	e.call("POST", "/api/v1/links", e.admin, `{"code":"b","domain":"go.brand.example","destination":"https://example.com/b"}`, nil, 201, nil)
	e.call("POST", "/api/v1/links/bulk", e.write, `[{"code":"c1","destination":"https://example.com/c1"},{"code":"c2","destination":"https://example.com/c2"}]`, nil, 201, nil)
	e.call("DELETE", "/api/v1/links/a", e.write, "", nil, 204, nil)
	// Failed changes are not recorded.
	e.call("POST", "/api/v1/links", e.write, `{"code":"c1","destination":"https://example.com/x"}`, nil, 409, nil)
	e.call("DELETE", "/api/v1/links/missing", e.write, "", nil, 404, nil)

	var page auditPage
	r := e.call("GET", "/api/v1/audit", e.admin, "", nil, 200, &page)
	var got []string
	for _, en := range page.Entries {
		got = append(got, fmt.Sprintf("%s:%s/%s:%s", en.Action, en.Domain, en.Code, en.KeyName))
		if en.ID == "" || en.Time.IsZero() || time.Since(en.Time) > time.Hour {
			t.Fatalf("entry %+v", en)
		}
	}
	want := "[delete:/a:writer bulk_create:/c2:writer bulk_create:/c1:writer create:go.brand.example/b:--api-key update:/a:writer create:/a:writer]"
	if fmt.Sprint(got) != want {
		t.Fatalf("audit\n got %v\nwant %s", got, want)
	}
	del, upd, create := page.Entries[0], page.Entries[4], page.Entries[5]
	if del.Before == nil || del.Before.Destination != "https://example.com/2" || del.After != nil {
		t.Fatalf("delete entry %+v", del)
	}
	if upd.Before == nil || upd.Before.Destination != "https://example.com/1" || upd.After == nil || upd.After.Destination != "https://example.com/2" || upd.After.Version <= upd.Before.Version {
		t.Fatalf("update entry before %+v after %+v", upd.Before, upd.After)
	}
	if create.Before != nil || create.After == nil || create.After.Version != l.Version {
		t.Fatalf("create entry %+v", create)
	}
	keys, err := e.db.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == "writer" && create.KeyID != k.ID {
			t.Fatalf("key_id %q, want %q", create.KeyID, k.ID)
		}
	}
	if page.Entries[3].KeyID != adminPrincipal.ID {
		t.Fatalf("--api-key entry %+v", page.Entries[3])
	}
	// The audit holds key ids and names, never keys or their hashes.
	for _, secret := range []string{e.write, e.admin, store.HashAPIKey(e.write), store.HashAPIKey(e.admin)} {
		if bytes.Contains(r.body, []byte(secret)) {
			t.Fatalf("the audit holds a key: %s", r.body)
		}
	}

	// Filters and paging.
	list := func(query string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for pages := 0; pages < 10; pages++ {
			var p auditPage
			e.call("GET", "/api/v1/audit?"+query+"&cursor="+cursor, e.admin, "", nil, 200, &p)
			for _, en := range p.Entries {
				out = append(out, en.Action)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		return out
	}
	if got := list("code=a&limit=1"); fmt.Sprint(got) != "[delete update create]" {
		t.Fatalf("code=a: %v", got)
	}
	if got := list("domain=go.brand.example"); fmt.Sprint(got) != "[create]" {
		t.Fatalf("domain: %v", got)
	}
	if got := list("limit=4"); len(got) != 6 {
		t.Fatalf("paged: %v", got)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=zz", "code=a%20b", "domain=bad_domain:80"} {
		p := e.call("GET", "/api/v1/audit?"+q, e.admin, "", nil, 400, nil).problem(t)
		if len(p.Errors) != 1 || !strings.Contains(q, p.Errors[0].Field) {
			t.Fatalf("%s: %+v", q, p)
		}
	}
	e.call("GET", "/api/v1/audit", e.write, "", nil, 403, nil).problem(t)
	e.call("GET", "/api/v1/audit", e.read, "", nil, 403, nil).problem(t)
	e.call("GET", "/api/v1/audit", "", "", nil, 401, nil).problem(t)
}

// noAudit is a store without an audit log.
type noAudit struct{ Store }

func TestAuditNone(t *testing.T) {
	e := startAPI(t, apiOptions{store: func(db *boltstore.DB) Store { return noAudit{db} }})
	// Changes work without an audit log.
	e.call("POST", "/api/v1/links", e.admin, `{"code":"a","destination":"https://example.com/"}`, nil, 201, nil)
	e.call("PATCH", "/api/v1/links/a", e.admin, `{"destination":"https://example.com/2"}`, nil, 200, nil)
	e.call("DELETE", "/api/v1/links/a", e.admin, "", nil, 204, nil)
	if p := e.call("GET", "/api/v1/audit", e.admin, "", nil, 404, nil).problem(t); !strings.Contains(p.Detail, "audit") {
		t.Fatalf("problem %+v", p)
	}
}
