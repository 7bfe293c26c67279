package redisstore

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/qredge/qredge/internal/redistest"
)

func TestWarnEviction(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	s := mustOpen(t, srv.Addr(), "t")
	warned := func() string {
		t.Helper()
		var buf bytes.Buffer
		s.WarnEviction(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
		return buf.String()
	}
	if got := warned(); got != "" {
		t.Fatalf("noeviction (the default) warned: %s", got)
	}
	srv.Do("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
	if got := warned(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "maxmemory_policy=allkeys-lru") {
		t.Fatalf("allkeys-lru: %q", got)
	}
}
