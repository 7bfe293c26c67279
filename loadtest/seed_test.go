package loadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeAPI mimics qredge's POST /api/v1/links: 201 for a new code, 409 for
// an existing one, 401 without the right key.
type fakeAPI struct {
	key      string
	mu       sync.Mutex
	links    map[string]string // code -> destination
	inFlight atomic.Int32
	peak     atomic.Int32
}

func mustStartFakeAPI(t *testing.T, key string) (*fakeAPI, string) {
	t.Helper()
	a := &fakeAPI{key: key, links: make(map[string]string)}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.inFlight.Add(1)
	defer a.inFlight.Add(-1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/links" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+a.key {
		http.Error(w, `{"title":"missing API key"}`, http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "want JSON", http.StatusUnsupportedMediaType)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 2 {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	code, _ := body["code"].(string)
	dest, _ := body["destination"].(string)
	if code == "" || dest != "https://example.com/"+code {
		http.Error(w, "bad link", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	_, exists := a.links[code]
	a.links[code] = dest
	a.mu.Unlock()
	if exists {
		http.Error(w, `{"title":"code exists"}`, http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"code":"` + code + `"}`))
}

func TestSeedAPI(t *testing.T) {
	api, url := mustStartFakeAPI(t, "qk_test")
	// Some exist already: 409 is fine.
	for _, c := range Codes("lt", 20) {
		api.links[c] = "https://example.com/" + c
	}
	codes, err := SeedAPI(context.Background(), url+"/", "qk_test", 200, "lt")
	if err != nil {
		t.Fatalf("SeedAPI: %v", err)
	}
	if want := Codes("lt", 200); !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %v..., want %v...", codes[:3], want[:3])
	}
	if codes[0] != "lt1" || codes[199] != "lt200" {
		t.Errorf("codes run %s..%s, want lt1..lt200", codes[0], codes[199])
	}
	if len(api.links) != 200 {
		t.Errorf("the API holds %d links, want 200", len(api.links))
	}
	if p := api.peak.Load(); p > seedWorkers {
		t.Errorf("%d requests at once, want at most %d", p, seedWorkers)
	}

	// Again: everything exists, still fine.
	if _, err := SeedAPI(context.Background(), url, "qk_test", 200, "lt"); err != nil {
		t.Fatalf("SeedAPI again: %v", err)
	}

	_, err = SeedAPI(context.Background(), url, "qk_wrong", 5, "x")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "missing API key") {
		t.Errorf("wrong key: error %v, want the 401 and its body", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SeedAPI(ctx, url, "qk_test", 5, "y"); err == nil {
		t.Errorf("cancelled context: no error")
	}
}

func TestSeedLinks(t *testing.T) {
	links, err := SeedLinks("s", 3)
	if err != nil || len(links) != 3 {
		t.Fatalf("%v %v", links, err)
	}
	if l := links[2]; l.Code != "s3" || l.Destination != "https://example.com/s3" || l.Status != 302 {
		t.Errorf("third link %+v", l)
	}
	if _, err := SeedLinks("no/slash", 1); err == nil {
		t.Errorf("an invalid prefix: no error")
	}
}
