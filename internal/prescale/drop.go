package prescale

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/qredge/qredge/store"
)

// Drop is a scheduled go-live: an enabled link's not_before.
type Drop struct {
	Code, Domain string
	At           time.Time
}

// Name returns the drop's link as domain/code, or code.
func (d Drop) Name() string {
	if d.Domain == "" {
		return d.Code
	}
	return d.Domain + "/" + d.Code
}

// DropOf returns the drop of l, if it has one.
func DropOf(l *store.Link) (Drop, bool) {
	if l.Disabled || l.Schedule == nil || l.Schedule.NotBefore == nil {
		return Drop{}, false
	}
	return Drop{Code: l.Code, Domain: l.Domain, At: l.Schedule.NotBefore.UTC()}, true
}

// SortDrops orders drops by time, then name.
func SortDrops(drops []Drop) {
	sort.Slice(drops, func(i, j int) bool {
		if !drops[i].At.Equal(drops[j].At) {
			return drops[i].At.Before(drops[j].At)
		}
		return drops[i].Name() < drops[j].Name()
	})
}

// LoadDrops reads the drops of every link in ls, in time order.
func LoadDrops(ctx context.Context, ls store.LinkStore) ([]Drop, error) {
	var drops []Drop
	err := ls.ForEachLink(ctx, func(l *store.Link) error {
		if d, ok := DropOf(l); ok {
			drops = append(drops, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the links: %w", err)
	}
	SortDrops(drops)
	return drops, nil
}

// Window says whether a moment lies in a drop window: within the lead
// time before a drop or the hold after it.
type Window struct {
	Active []Drop    // the drops whose window holds the moment, in time order
	Until  time.Time // the end of the last hold of Active
	Lead   time.Duration
	Hold   time.Duration
}

// WindowAt returns the drop window at now: the drops whose not_before lies
// in [now-hold, now+lead], both ends included.
func WindowAt(drops []Drop, now time.Time, lead, hold time.Duration) Window {
	w := Window{Lead: lead, Hold: hold}
	for _, d := range drops {
		if !inWindow(d.At, now, lead, hold) {
			continue
		}
		w.Active = append(w.Active, d)
		if end := d.At.Add(hold); end.After(w.Until) {
			w.Until = end
		}
	}
	SortDrops(w.Active)
	return w
}

// inWindow reports whether now lies in the window of a drop at at.
func inWindow(at, now time.Time, lead, hold time.Duration) bool {
	return !at.Before(now.Add(-hold)) && !at.After(now.Add(lead))
}

func (w Window) active() bool { return len(w.Active) > 0 }

// why says which drops hold the floor, or that none does.
func (w Window) why() string {
	if !w.active() {
		return fmt.Sprintf("no drop in the next %s or the last %s", fmtDuration(w.Lead), fmtDuration(w.Hold))
	}
	d := w.Active[0]
	s := "drop " + d.Name() + " at " + d.At.Format(time.RFC3339)
	if n := len(w.Active) - 1; n > 0 {
		s += fmt.Sprintf(" and %d more", n)
	}
	until := w.Until.Format(time.RFC3339)
	if y, m, dd := w.Until.Date(); y == d.At.Year() && m == d.At.Month() && dd == d.At.Day() {
		until = w.Until.Format("15:04:05Z07:00")
	}
	return s + "; held until " + until
}
