package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/qredge/qredge/internal/redistest"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/storetest"
)

func mustOpen(t testing.TB, addr, prefix string) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Client.Addr = addr
	cfg.Prefix = prefix
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freshStores returns a constructor of stores on addr, each under a
// prefix of its own that starts with tag: the tests of a suite stay apart
// on one server.
func freshStores(addr, tag string) func(t *testing.T) *Store {
	n := 0
	return func(t *testing.T) *Store {
		n++
		return mustOpen(t, addr, tag+time.Now().Format("150405.000000")+string(rune('a'+n%26)))
	}
}

func TestConformanceSingle(t *testing.T) {
	open := freshStores(redistest.MustStart(t, redistest.Options{}).Addr(), "t")
	storetest.Run(t, func(t *testing.T) storetest.Store { return open(t) })
}

func TestConformanceCluster(t *testing.T) {
	open := freshStores("redis-cluster://"+redistest.MustStartCluster(t).Addrs(), "t")
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s := open(t)
		if s.Mode() != ModeCluster {
			t.Fatalf("mode %s", s.Mode())
		}
		return s
	})
}

func TestGapAndTail(t *testing.T) {
	srv := redistest.MustStart(t, redistest.Options{})
	cfg := DefaultConfig()
	cfg.Client.Addr = srv.Addr()
	cfg.StreamMaxLen = 10
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	tail, err := s.TailID(ctx)
	if err != nil || tail != "0-0" {
		t.Fatalf("empty tail %q %v", tail, err)
	}
	if gap, _, _ := s.Gap(ctx, "0-0"); gap {
		t.Fatal("gap on an empty stream from the start")
	}
	l := &store.Link{Code: "g0", Destination: "https://example.com/"}
	l.Validate()
	if _, err := s.CreateLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	first, _ := s.TailID(ctx)
	if gap, _, _ := s.Gap(ctx, first); gap {
		t.Fatal("gap right after reading the tail")
	}
	// Write far more than the cap; trim exactly so the test does not
	// depend on when ~ trimming kicks in.
	for i := 1; i < 300; i++ {
		l.Code = "g" + time.Now().Format("150405.000000000")[7:] + string(rune('a'+i%26))
		if _, err := s.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	srv.Do("XTRIM", s.k.stream, "MAXLEN", "5")
	if gap, _, err := s.Gap(ctx, first); err != nil || !gap {
		t.Fatalf("no gap after trimming past our position: %v %v", gap, err)
	}
	latest, _ := s.TailID(ctx)
	if gap, _, _ := s.Gap(ctx, latest); gap {
		t.Fatal("gap at the newest entry")
	}
	entries, err := s.ReadChanges(ctx, "0-0", 0, 100)
	if err != nil || len(entries) != 5 {
		t.Fatalf("read %d entries after trim, %v", len(entries), err)
	}
}

func TestCompareIDs(t *testing.T) {
	f := func(a, b string, want int) {
		t.Helper()
		if got := CompareIDs(a, b); got != want {
			t.Fatalf("CompareIDs(%s, %s) = %d", a, b, got)
		}
	}
	f("1-0", "1-0", 0)
	f("2-0", "10-0", -1)
	f("10-3", "10-12", -1)
	f("11-0", "10-99", 1)
}

func TestClientModes(t *testing.T) {
	for addr, want := range map[string]Mode{
		"127.0.0.1:6379":                        ModeSingle,
		"redis://user:pw@127.0.0.1:6379/2":      ModeSingle,
		"rediss://127.0.0.1:6380":               ModeSingle,
		"10.0.0.1:7000,10.0.0.2:7000":           ModeCluster,
		"redis-cluster://10.0.0.1:7000":         ModeCluster,
		"redis-cluster://u:p@h1:7000,h2:7000":   ModeCluster,
		"redis-sentinel://h1:26379,h2:26379/mm": ModeSentinel,
	} {
		c, mode, err := NewClient(ClientConfig{Addr: addr})
		if err != nil || mode != want {
			t.Fatalf("NewClient(%q) = %s, %v; want %s", addr, mode, err, want)
		}
		c.Close()
	}
	for _, bad := range []string{"", "http://x", "redis-sentinel://h1:26379", "redis://[bad"} {
		if _, _, err := NewClient(ClientConfig{Addr: bad}); err == nil {
			t.Fatalf("NewClient(%q) accepted", bad)
		}
	}
}
