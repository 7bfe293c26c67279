package prescale

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qredge/qredge/store"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWindowAt(t *testing.T) {
	const lead, hold = 30 * time.Minute, 2 * time.Hour
	now := mustTime(t, "2026-11-27T11:30:00Z")
	at := func(d time.Duration) Drop { return Drop{Code: "c" + d.String(), At: now.Add(d)} }
	f := func(drops []Drop, wantActive []string, wantUntil string) {
		t.Helper()
		w := WindowAt(drops, now, lead, hold)
		var got []string
		for _, d := range w.Active {
			got = append(got, d.Code)
		}
		if strings.Join(got, ",") != strings.Join(wantActive, ",") {
			t.Fatalf("active %v, want %v", got, wantActive)
		}
		if len(wantActive) > 0 && !w.Until.Equal(mustTime(t, wantUntil)) {
			t.Fatalf("until %s, want %s", w.Until, wantUntil)
		}
	}
	f(nil, nil, "")
	// Exactly the lead time ahead opens the window; a second further does not.
	f([]Drop{at(lead)}, []string{"c30m0s"}, "2026-11-27T14:00:00Z")
	f([]Drop{at(lead + time.Second)}, nil, "")
	// Exactly the hold behind still holds; a second more does not.
	f([]Drop{at(-hold)}, []string{"c-2h0m0s"}, "2026-11-27T11:30:00Z")
	f([]Drop{at(-hold - time.Second)}, nil, "")
	f([]Drop{at(0)}, []string{"c0s"}, "2026-11-27T13:30:00Z")
	// Several drops: the hold ends with the last active one.
	f([]Drop{at(-3 * time.Hour), at(-time.Hour), at(10 * time.Minute), at(time.Hour)},
		[]string{"c-1h0m0s", "c10m0s"}, "2026-11-27T13:40:00Z")
}

func TestDropOf(t *testing.T) {
	nb, na := mustTime(t, "2026-11-27T12:00:00Z"), mustTime(t, "2026-12-01T00:00:00Z")
	f := func(l *store.Link, want bool) {
		t.Helper()
		d, ok := DropOf(l)
		if ok != want {
			t.Fatalf("%+v: drop %v, want %v", l, ok, want)
		}
		if ok && (!d.At.Equal(nb) || d.Code != l.Code || d.Domain != l.Domain) {
			t.Fatalf("drop %+v", d)
		}
	}
	f(&store.Link{Code: "plain"}, false)
	f(&store.Link{Code: "after", Schedule: &store.Schedule{NotAfter: &na}}, false)
	f(&store.Link{Code: "off", Disabled: true, Schedule: &store.Schedule{NotBefore: &nb}}, false)
	f(&store.Link{Code: "drop", Domain: "go.example.com", Schedule: &store.Schedule{NotBefore: &nb, NotAfter: &na}}, true)
}

// linkList is a store.LinkStore of a fixed list of links; only
// ForEachLink is called.
type linkList struct {
	store.LinkStore
	links []*store.Link
	err   error
}

func (l linkList) ForEachLink(_ context.Context, fn func(*store.Link) error) error {
	for _, x := range l.links {
		if err := fn(x); err != nil {
			return err
		}
	}
	return l.err
}

func TestLoadDrops(t *testing.T) {
	at := func(s string) *time.Time { v := mustTime(t, s); return &v }
	links := []*store.Link{
		{Code: "late", Schedule: &store.Schedule{NotBefore: at("2026-11-28T09:00:00Z")}},
		{Code: "plain"},
		{Code: "b", Domain: "go.example.com", Schedule: &store.Schedule{NotBefore: at("2026-11-27T12:00:00Z")}},
		{Code: "a", Domain: "go.example.com", Schedule: &store.Schedule{NotBefore: at("2026-11-27T12:00:00Z")}},
	}
	drops, err := LoadDrops(context.Background(), linkList{links: links})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range drops {
		got = append(got, d.Name())
	}
	if want := "go.example.com/a go.example.com/b late"; strings.Join(got, " ") != want {
		t.Fatalf("drops %v, want %s", got, want)
	}
	_, err = LoadDrops(context.Background(), linkList{err: errors.New("gone")})
	if err == nil || !strings.Contains(err.Error(), "cannot read the links: gone") {
		t.Fatalf("error %v", err)
	}
}
