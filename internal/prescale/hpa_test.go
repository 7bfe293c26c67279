package prescale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	now := mustTime(t, "2026-11-27T11:30:00Z")
	on := WindowAt([]Drop{{Code: "x", At: now}}, now, time.Minute, time.Hour)
	off := WindowAt(nil, now, time.Minute, time.Hour)
	f := func(cur State, w Window, want State, wantErr string) {
		t.Helper()
		got, err := Plan(cur, 20, w)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Plan(%+v): error %v, want %q", cur, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("Plan(%+v) = %+v, %v; want %+v", cur, got, err, want)
		}
	}
	until := "2026-11-27T12:30:00Z"
	f(State{Min: 3, Max: 50}, on, State{Min: 20, Max: 50, NormalMin: "3", Until: until}, "")
	f(State{Min: 20, Max: 50, NormalMin: "3", Until: until}, on, State{Min: 20, Max: 50, NormalMin: "3", Until: until}, "")
	f(State{Min: 40, Max: 50, NormalMin: "3", Until: "old"}, on, State{Min: 40, Max: 50, NormalMin: "3", Until: until}, "")
	f(State{Min: 30, Max: 50}, on, State{Min: 30, Max: 50}, "")
	f(State{Min: 3, Max: 10}, on, State{}, "maxReplicas 10 is below --replicas 20")
	f(State{Min: 20, Max: 50, NormalMin: "x"}, on, State{}, "not a replica count")
	f(State{Min: 20, Max: 50, NormalMin: "3", Until: until}, off, State{Min: 3, Max: 50}, "")
	f(State{Min: 3, Max: 50, Until: until}, off, State{Min: 3, Max: 50}, "")
	f(State{Min: 3, Max: 10}, off, State{Min: 3, Max: 10}, "")
	f(State{Min: 20, Max: 50, NormalMin: "-1"}, off, State{}, "not a replica count")
}

func TestStateOf(t *testing.T) {
	five := int32(5)
	f := func(h HPA, want State) {
		t.Helper()
		if got := StateOf(h); got != want {
			t.Fatalf("StateOf(%+v) = %+v, want %+v", h, got, want)
		}
	}
	f(HPA{MaxReplicas: 9}, State{Min: 1, Max: 9}) // the API's default minimum
	f(HPA{MinReplicas: &five, MaxReplicas: 9, Annotations: map[string]string{NormalMinAnnotation: "2", UntilAnnotation: "u", "x": "y"}},
		State{Min: 5, Max: 9, NormalMin: "2", Until: "u"})
}

func TestPatch(t *testing.T) {
	f := func(next State, want string) {
		t.Helper()
		if got := string(Patch("42", next)); got != want {
			t.Fatalf("Patch(%+v) = %s, want %s", next, got, want)
		}
	}
	f(State{Min: 20, Max: 50, NormalMin: "3", Until: "2026-11-27T14:00:00Z"},
		`{"metadata":{"annotations":{"qredge.io/prescale-normal-min-replicas":"3","qredge.io/prescale-until":"2026-11-27T14:00:00Z"},"resourceVersion":"42"},"spec":{"minReplicas":20}}`)
	// Restoring deletes both annotations (null in a merge patch).
	f(State{Min: 3, Max: 50},
		`{"metadata":{"annotations":{"qredge.io/prescale-normal-min-replicas":null,"qredge.io/prescale-until":null},"resourceVersion":"42"},"spec":{"minReplicas":3}}`)
}

// memHPAs is an HPAClient over HPAs in memory. A patch applies as the
// API applies a JSON merge patch with a resourceVersion: refused with a
// conflict when the HPA changed since.
type memHPAs struct {
	hpas    map[string]*HPA // by namespace/name
	version int
	patches int
	gets    int
	// Called before each patch is applied, when set: it may change the
	// HPA (someone else's write) or return an error for the patch.
	beforePatch func(h *HPA) error
	getErr      error
}

func newMemHPAs(hpas map[string]HPA) *memHPAs {
	m := &memHPAs{hpas: map[string]*HPA{}}
	for k, h := range hpas {
		m.version++
		h.ResourceVersion = fmt.Sprint(m.version)
		m.hpas["qredge/"+k] = &h
	}
	return m
}

func (m *memHPAs) GetHPA(_ context.Context, namespace, name string) (HPA, error) {
	m.gets++
	if m.getErr != nil {
		return HPA{}, m.getErr
	}
	h, ok := m.hpas[namespace+"/"+name]
	if !ok {
		return HPA{}, fmt.Errorf("horizontalpodautoscalers %q not found", name)
	}
	c := *h
	c.Annotations = map[string]string{}
	for k, v := range h.Annotations {
		c.Annotations[k] = v
	}
	return c, nil
}

func (m *memHPAs) PatchHPA(_ context.Context, namespace, name string, mergePatch []byte) error {
	m.patches++
	h, ok := m.hpas[namespace+"/"+name]
	if !ok {
		return fmt.Errorf("horizontalpodautoscalers %q not found", name)
	}
	if m.beforePatch != nil {
		if err := m.beforePatch(h); err != nil {
			return err
		}
	}
	var p struct {
		Metadata struct {
			ResourceVersion string             `json:"resourceVersion"`
			Annotations     map[string]*string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			MinReplicas *int32 `json:"minReplicas"`
		} `json:"spec"`
	}
	d := json.NewDecoder(bytes.NewReader(mergePatch))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return err
	}
	if p.Metadata.ResourceVersion != h.ResourceVersion {
		return fmt.Errorf("%w: please apply your changes to the latest version and try again", ErrConflict)
	}
	if h.Annotations == nil {
		h.Annotations = map[string]string{}
	}
	for k, v := range p.Metadata.Annotations {
		if v == nil {
			delete(h.Annotations, k)
		} else {
			h.Annotations[k] = *v
		}
	}
	if p.Spec.MinReplicas != nil {
		h.MinReplicas = p.Spec.MinReplicas
	}
	m.version++
	h.ResourceVersion = fmt.Sprint(m.version)
	return nil
}

func (m *memHPAs) state(name string) State { return StateOf(*m.hpas["qredge/"+name]) }

func hpa(min, max int32, ann map[string]string) HPA {
	return HPA{MinReplicas: &min, MaxReplicas: max, Annotations: ann}
}

func TestReconcileHPA(t *testing.T) {
	ctx := context.Background()
	now := mustTime(t, "2026-11-27T11:40:00Z")
	drops := []Drop{{Code: "spring24", At: mustTime(t, "2026-11-27T12:00:00Z")}}
	on := WindowAt(drops, now, 30*time.Minute, 2*time.Hour)
	off := WindowAt(drops, now.Add(3*time.Hour), 30*time.Minute, 2*time.Hour)

	t.Run("raise, keep, restore", func(t *testing.T) {
		m := newMemHPAs(map[string]HPA{"edge": hpa(3, 50, map[string]string{"team": "edge"})})
		ch, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true)
		if err != nil {
			t.Fatal(err)
		}
		want := State{Min: 20, Max: 50, NormalMin: "3", Until: "2026-11-27T14:00:00Z"}
		if got := m.state("edge"); got != want || m.patches != 1 {
			t.Fatalf("after raise %+v (%d patches), want %+v", got, m.patches, want)
		}
		if line := ch.Describe(on, true); line != "hpa qredge/edge: minReplicas 3 -> 20 (drop spring24 at 2026-11-27T12:00:00Z; held until 14:00:00Z)" {
			t.Fatalf("line %q", line)
		}
		if _, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true); err != nil || m.patches != 1 {
			t.Fatalf("second run: %v, %d patches", err, m.patches)
		}
		ch, err = ReconcileHPA(ctx, m, "qredge", "edge", 20, off, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.state("edge"); got != (State{Min: 3, Max: 50}) || m.hpas["qredge/edge"].Annotations["team"] != "edge" {
			t.Fatalf("after restore %+v %v", got, m.hpas["qredge/edge"].Annotations)
		}
		if line := ch.Describe(off, true); line != "hpa qredge/edge: minReplicas restored 20 -> 3 (no drop in the next 30m or the last 2h)" {
			t.Fatalf("line %q", line)
		}
		if _, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, off, true); err != nil || m.patches != 2 {
			t.Fatalf("restored HPA patched again: %v, %d patches", err, m.patches)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		m := newMemHPAs(map[string]HPA{"edge": hpa(3, 50, nil)})
		ch, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, false)
		if err != nil || m.patches != 0 || m.state("edge") != (State{Min: 3, Max: 50}) {
			t.Fatalf("dry run changed the HPA: %v, %d patches", err, m.patches)
		}
		if line := ch.Describe(on, false); !strings.HasPrefix(line, "hpa qredge/edge: would set minReplicas 3 -> 20 (") {
			t.Fatalf("line %q", line)
		}
	})

	t.Run("changed between read and patch", func(t *testing.T) {
		m := newMemHPAs(map[string]HPA{"edge": hpa(3, 50, nil)})
		raised := false
		m.beforePatch = func(h *HPA) error {
			if !raised { // someone sets the floor to 25 by hand
				raised = true
				n := int32(25)
				h.MinReplicas = &n
				m.version++
				h.ResourceVersion = fmt.Sprint(m.version)
			}
			return nil
		}
		ch, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true)
		if err != nil {
			t.Fatal(err)
		}
		// Read again: 25 is above the floor and not ours, so it is left.
		if got := m.state("edge"); got != (State{Min: 25, Max: 50}) || m.gets != 2 || ch.From.Min != 25 {
			t.Fatalf("got %+v after %d reads, change %+v", got, m.gets, ch)
		}
	})

	t.Run("conflict retried, then given up", func(t *testing.T) {
		m := newMemHPAs(map[string]HPA{"edge": hpa(3, 50, nil)})
		m.beforePatch = func(*HPA) error { return fmt.Errorf("%w (test)", ErrConflict) }
		_, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true)
		if !errors.Is(err, ErrConflict) || !strings.HasPrefix(err.Error(), "hpa qredge/edge: ") || m.gets != conflictTries || m.patches != conflictTries {
			t.Fatalf("error %v after %d reads and %d patches", err, m.gets, m.patches)
		}
	})

	t.Run("errors", func(t *testing.T) {
		m := newMemHPAs(map[string]HPA{"edge": hpa(3, 10, nil)})
		if _, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true); err == nil || !strings.Contains(err.Error(), "hpa qredge/edge: maxReplicas 10 is below --replicas 20") {
			t.Fatalf("max below floor: %v", err)
		}
		if _, err := ReconcileHPA(ctx, m, "qredge", "missing", 20, on, true); err == nil || !strings.Contains(err.Error(), `hpa qredge/missing: `) || strings.Contains(err.Error(), "docs/prescale.md") {
			t.Fatalf("missing HPA: %v", err)
		}
		m.getErr = fmt.Errorf("%w: cannot get resource", ErrForbidden)
		_, err := ReconcileHPA(ctx, m, "qredge", "edge", 20, on, true)
		if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "cannot get resource") || !strings.Contains(err.Error(), "docs/prescale.md") || m.gets != 3 {
			t.Fatalf("forbidden: %v (%d reads)", err, m.gets)
		}
	})
}

func TestReconcile(t *testing.T) {
	now := mustTime(t, "2026-11-27T11:40:00Z")
	on := WindowAt([]Drop{{Code: "spring24", At: now}}, now, 30*time.Minute, 2*time.Hour)
	m := newMemHPAs(map[string]HPA{"a": hpa(3, 50, nil), "b": hpa(5, 50, nil)})
	cfg := DefaultConfig()
	cfg.Replicas, cfg.Namespace, cfg.HPAs = 20, "qredge", []string{"nope", "a", "b"}
	var out strings.Builder
	err := Reconcile(context.Background(), m, cfg, on, &out)
	if err == nil || !strings.Contains(err.Error(), "hpa qredge/nope: ") {
		t.Fatalf("error %v", err)
	}
	// The others are handled all the same; a failed dry run does not say
	// nothing changed.
	if !strings.Contains(out.String(), "hpa qredge/a: would set minReplicas 3 -> 20 (") ||
		!strings.Contains(out.String(), "hpa qredge/b: would set minReplicas 5 -> 20 (") || strings.Contains(out.String(), "dry run") {
		t.Fatalf("output:\n%s", out.String())
	}
	cfg.HPAs = []string{"a"}
	out.Reset()
	if err := Reconcile(context.Background(), m, cfg, on, &out); err != nil || !strings.HasSuffix(out.String(), "dry run: nothing changed (add --apply to change the HPAs)\n") {
		t.Fatalf("%v:\n%s", err, out.String())
	}
}
