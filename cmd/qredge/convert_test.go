package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/internal/testwait"
)

// TestConvertJSONLinksUnderTraffic: a dataset stored as JSON (by an older
// qredge) is read as it is, and converted to the binary form while links
// are written and scanned; nothing is lost or changed.
func TestConvertJSONLinksUnderTraffic(t *testing.T) {
	srv, a := mustStartRedisAPI(t, redistest.Options{})
	const n = 3000
	for i := range n {
		if i%100 == 0 {
			if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"j%d","destination":"https://example.com/j/%d","tags":["old"],"status":301,"variants":[{"destination":"https://a.example/","weight":1},{"destination":"https://b.example/","weight":1}]}`, i, i)); st != 201 {
				t.Fatalf("create: %d %s", st, b)
			}
			continue
		}
		if st, b := apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"j%d","destination":"https://example.com/j/%d","tags":["old"],"status":301}`, i, i)); st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
	}
	// Store every link as an older qredge did: JSON without the version.
	rc := a.store.Client()
	ctx := context.Background()
	all, err := rc.HGetAll(ctx, "qredge:{l}:links").Result()
	if err != nil {
		t.Fatal(err)
	}
	for key := range all {
		code, domain, _ := strings.Cut(key, "\x00")
		l, err := a.store.GetLink(ctx, domain, code)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.Version = 0
		js, _ := json.Marshal(&c)
		rc.HSet(ctx, "qredge:{l}:links", key, js)
	}
	rc.Del(ctx, "qredge:{l}:encoding")
	before := listAll(t, a)

	e := mustStartEdge(t, srv.Addr(), nil) // loads the JSON links
	waitReady(t, e)
	if e.Table().Len() != n {
		t.Fatalf("edge loaded %d JSON links, want %d", e.Table().Len(), n)
	}
	var (
		load         loops
		touched      sync.Map
		scans, fails atomic.Int64
	)
	load.Go(func(i int) { // writes: updates, deletes and creates
		code := fmt.Sprint("j", (i*37)%n)
		touched.Store(code, true)
		switch i % 3 {
		case 0:
			apiCall(t, a, "PATCH", "/api/v1/links/"+code, `{"destination":"https://example.com/new"}`)
		case 1:
			apiCall(t, a, "DELETE", "/api/v1/links/"+code, "")
		default:
			apiCall(t, a, "POST", "/api/v1/links", fmt.Sprintf(`{"code":"new%d","destination":"https://example.com/n"}`, i))
		}
	})
	load.Go(func(i int) { // scans of links nobody writes
		code := fmt.Sprint("j", (i*7919)%n)
		if _, w := touched.Load(code); w {
			return
		}
		if st, _ := scanEdge(t, e, code); st != 301 && st != 302 {
			fails.Add(1)
		}
		scans.Add(1)
	})
	time.Sleep(50 * time.Millisecond)
	converted, err := a.store.ConvertLinks(ctx)
	load.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("converted %d links under traffic; %d scans, %d failed", converted, scans.Load(), fails.Load())
	if converted == 0 || fails.Load() > 0 {
		t.Fatalf("converted %d, %d of %d scans failed", converted, fails.Load(), scans.Load())
	}
	all, _ = rc.HGetAll(ctx, "qredge:{l}:links").Result()
	for key, v := range all {
		if strings.HasPrefix(v, "{") {
			t.Fatalf("link %q is still JSON after the conversion", key)
		}
	}
	if enc := srv.Do("GET", "qredge:{l}:encoding"); enc != "binary" {
		t.Fatalf("encoding key %q", enc)
	}
	after := listAll(t, a)
	for code, js := range before {
		if _, w := touched.Load(code); w {
			continue
		}
		if after[code] != js {
			t.Fatalf("link %s changed by the conversion:\n%s\nwas\n%s", code, after[code], js)
		}
	}
	if again, err := a.store.ConvertLinks(ctx); err != nil || again != 0 {
		t.Fatalf("second conversion: %d, %v", again, err)
	}
	createLinks(t, a, "sentinel", 1)
	testwait.For(t, 10*time.Second, "the sentinel", func() bool { return e.Table().Lookup(nil, []byte("sentinel0")) != nil })
	sameAsRedis(t, e)
}
