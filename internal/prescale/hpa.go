package prescale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// The annotations prescale keeps on an HPA while it holds the floor.
const (
	NormalMinAnnotation = "qredge.io/prescale-normal-min-replicas" // minReplicas to restore after the drops
	UntilAnnotation     = "qredge.io/prescale-until"               // RFC 3339 end of the hold, for people
)

// HPA is what prescale reads of a HorizontalPodAutoscaler.
type HPA struct {
	ResourceVersion string
	MinReplicas     *int32 // nil when unset, which the API takes as 1
	MaxReplicas     int32
	Annotations     map[string]string
}

// HPAClient is the part of the Kubernetes API prescale uses: read an HPA,
// and change it with a JSON merge patch.
//
// An error for which errors.Is(err, ErrConflict) holds means the HPA
// changed since it was read (the patch's resourceVersion is stale): the
// HPA is read and planned again. errors.Is(err, ErrForbidden) means RBAC
// refused the call. Other errors are reported as they are.
type HPAClient interface {
	GetHPA(ctx context.Context, namespace, name string) (HPA, error)
	PatchHPA(ctx context.Context, namespace, name string, mergePatch []byte) error
}

// The kinds of HPAClient error prescale acts on.
var (
	ErrConflict  = errors.New("the object has been modified")
	ErrForbidden = errors.New("forbidden")
)

// State is what prescale reads and writes of an HPA. The annotations are
// as stored, "" when absent.
type State struct {
	Min, Max  int32
	NormalMin string // NormalMinAnnotation
	Until     string // UntilAnnotation
}

// StateOf returns the state of h.
func StateOf(h HPA) State {
	s := State{Min: 1, Max: h.MaxReplicas} // the API's default minimum
	if h.MinReplicas != nil {
		s.Min = *h.MinReplicas
	}
	s.NormalMin = h.Annotations[NormalMinAnnotation]
	s.Until = h.Annotations[UntilAnnotation]
	return s
}

// normalMin parses the recorded minimum.
func (s State) normalMin() (int32, error) {
	n, err := strconv.ParseInt(s.NormalMin, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("annotation %s is %q, not a replica count: set it to the minReplicas to restore, or delete it", NormalMinAnnotation, s.NormalMin)
	}
	return int32(n), nil
}

// Plan returns the state an HPA in state cur should have with floor
// replicas during drop window w.
//
// In a window the minimum becomes at least floor, never lower than someone
// set it, and the normal minimum is recorded the first time prescale raises
// it. Outside every window a recorded minimum is restored and the
// annotations removed; an HPA prescale did not raise is left alone.
func Plan(cur State, floor int32, w Window) (State, error) {
	next := cur
	if !w.active() {
		if cur.NormalMin != "" {
			n, err := cur.normalMin()
			if err != nil {
				return cur, err
			}
			next.Min = n
		}
		next.NormalMin, next.Until = "", ""
		return next, nil
	}
	if cur.Max < floor {
		return cur, fmt.Errorf("maxReplicas %d is below --replicas %d: raise the HPA's maxReplicas or lower --replicas", cur.Max, floor)
	}
	if cur.NormalMin == "" {
		if cur.Min >= floor {
			return cur, nil // a floor at least as high that is not ours
		}
		next.NormalMin = strconv.FormatInt(int64(cur.Min), 10)
	} else if _, err := cur.normalMin(); err != nil {
		return cur, err
	}
	next.Min = max(cur.Min, floor)
	next.Until = w.Until.UTC().Format(time.RFC3339)
	return next, nil
}

// Patch is the JSON merge patch from an HPA at resourceVersion rv to next.
// The resourceVersion makes the API refuse it with a conflict when the HPA
// changed since it was read.
func Patch(rv string, next State) []byte {
	ann := map[string]*string{NormalMinAnnotation: nil, UntilAnnotation: nil} // null deletes
	if next.NormalMin != "" {
		ann[NormalMinAnnotation] = &next.NormalMin
	}
	if next.Until != "" {
		ann[UntilAnnotation] = &next.Until
	}
	p := map[string]any{
		"metadata": map[string]any{"resourceVersion": rv, "annotations": ann},
		"spec":     map[string]any{"minReplicas": next.Min},
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic("BUG: cannot marshal an HPA patch: " + err.Error())
	}
	return b
}

// Change is what prescale did, or would do, to one HPA.
type Change struct {
	Namespace, Name string
	From, To        State
}

// ReconcileHPA brings the HPA namespace/name to the state Plan wants, when
// apply, and returns the change. A conflict (the HPA changed between read
// and patch) reads and plans again.
func ReconcileHPA(ctx context.Context, c HPAClient, namespace, name string, floor int32, w Window, apply bool) (Change, error) {
	ch := Change{Namespace: namespace, Name: name}
	err := retryOnConflict(ctx, func() error {
		h, err := c.GetHPA(ctx, namespace, name)
		if err != nil {
			return err
		}
		ch.From = StateOf(h)
		if ch.To, err = Plan(ch.From, floor, w); err != nil {
			return err
		}
		if !apply || ch.To == ch.From {
			return nil
		}
		return c.PatchHPA(ctx, namespace, name, Patch(h.ResourceVersion, ch.To))
	})
	if err != nil {
		err = fmt.Errorf("hpa %s/%s: %w", namespace, name, err)
		if errors.Is(err, ErrForbidden) {
			err = fmt.Errorf("%w\n(prescale needs get and patch on horizontalpodautoscalers in namespace %s: see docs/prescale.md)", err, namespace)
		}
		return ch, err
	}
	return ch, nil
}

// The retries of a conflict: those of client-go's retry.DefaultRetry.
const (
	conflictTries = 5
	conflictPause = 10 * time.Millisecond // and up to 10% more
)

// retryOnConflict calls fn until it returns anything but a conflict, at
// most conflictTries times, and returns its last error.
func retryOnConflict(ctx context.Context, fn func() error) error {
	var err error
	for i := range conflictTries {
		if i > 0 {
			t := time.NewTimer(conflictPause + time.Duration(rand.Int64N(int64(conflictPause/10))))
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		if err = fn(); !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

// Describe returns the line prescale prints for the change.
func (ch Change) Describe(w Window, apply bool) string {
	f, t := ch.From, ch.To
	var what string
	switch {
	case t.Min > f.Min && apply:
		what = fmt.Sprintf("minReplicas %d -> %d", f.Min, t.Min)
	case t.Min > f.Min:
		what = fmt.Sprintf("would set minReplicas %d -> %d", f.Min, t.Min)
	case t.Min < f.Min && apply:
		what = fmt.Sprintf("minReplicas restored %d -> %d", f.Min, t.Min)
	case t.Min < f.Min:
		what = fmt.Sprintf("would restore minReplicas %d -> %d", f.Min, t.Min)
	case t == f:
		what = fmt.Sprintf("minReplicas %d unchanged", f.Min)
	case t.NormalMin == "" && apply:
		what = fmt.Sprintf("minReplicas %d unchanged; prescale annotations removed", f.Min)
	case t.NormalMin == "":
		what = fmt.Sprintf("minReplicas %d unchanged; would remove the prescale annotations", f.Min)
	case apply:
		what = fmt.Sprintf("minReplicas %d unchanged; %s set to %s", f.Min, UntilAnnotation, t.Until)
	default:
		what = fmt.Sprintf("minReplicas %d unchanged; would set %s to %s", f.Min, UntilAnnotation, t.Until)
	}
	return fmt.Sprintf("hpa %s/%s: %s (%s)", ch.Namespace, ch.Name, what, w.why())
}
