package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// The annotations prescale keeps on an HPA while it holds the floor.
const (
	annNormalMin = "qredge.io/prescale-normal-min-replicas" // minReplicas to restore after the drops
	annUntil     = "qredge.io/prescale-until"               // RFC 3339 end of the hold, for people
)

// hpaClient is the part of the Kubernetes API prescale uses: read an HPA,
// and change it with a JSON merge patch. Errors are client-go's
// *apierrors.StatusError, so apierrors.IsConflict and IsForbidden work.
type hpaClient interface {
	GetHPA(ctx context.Context, namespace, name string) (*autoscalingv2.HorizontalPodAutoscaler, error)
	PatchHPA(ctx context.Context, namespace, name string, mergePatch []byte) error
}

// newHPAClient connects to Kubernetes with kubeconfig, or without it with
// the in-cluster service account, else $KUBECONFIG or ~/.kube/config.
// Tests replace it.
var newHPAClient = func(kubeconfig string) (hpaClient, error) {
	rc, err := kubeRESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 30 * time.Second
	rc.UserAgent = "qredge-prescale/" + version
	return newRESTHPA(rc)
}

// restHPA is hpaClient over HTTP, with client-go's REST configuration for
// the address, credentials and TLS. It is not client-go's typed clientset
// on purpose: that registers the types of every API group when the
// program starts, which cost every qredge command (edges included) about
// 17 ms and 9 MB for the two calls prescale makes.
type restHPA struct {
	base string // .../apis/autoscaling/v2
	http *http.Client
}

var hpaResource = schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}

func newRESTHPA(rc *rest.Config) (*restHPA, error) {
	rc = rest.CopyConfig(rc)
	rc.APIPath = "/apis"
	rc.GroupVersion = &schema.GroupVersion{Group: "autoscaling", Version: "v2"}
	u, path, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	base, err := url.JoinPath(u.String(), path)
	if err != nil {
		return nil, err
	}
	return &restHPA{base: base, http: hc}, nil
}

func (r *restHPA) GetHPA(ctx context.Context, namespace, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	return h, r.do(ctx, http.MethodGet, namespace, name, nil, h)
}

func (r *restHPA) PatchHPA(ctx context.Context, namespace, name string, mergePatch []byte) error {
	return r.do(ctx, http.MethodPatch, namespace, name, mergePatch, nil)
}

// do sends one request for the HPA namespace/name and decodes the answer
// into out, or a Kubernetes Status into a StatusError.
func (r *restHPA) do(ctx context.Context, method, namespace, name string, body []byte, out any) error {
	u := r.base + "/namespaces/" + url.PathEscape(namespace) + "/horizontalpodautoscalers/" + url.PathEscape(name)
	if method == http.MethodPatch {
		u += "?fieldManager=qredge-prescale"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var st metav1.Status
		if json.Unmarshal(b, &st) == nil && st.Kind == "Status" {
			return &apierrors.StatusError{ErrStatus: st}
		}
		return apierrors.NewGenericServerResponse(resp.StatusCode, method, hpaResource, name, string(b), 0, false)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

func kubeRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	rc, err := rest.InClusterConfig()
	if err == nil {
		return rc, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return nil, err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errors.New("not in a cluster and no kubeconfig found: pass --kubeconfig or set KUBECONFIG")
	}
	return rc, err
}

// hpaState is what prescale reads and writes of an HPA. The annotations
// are as stored, "" when absent.
type hpaState struct {
	Min, Max  int32
	NormalMin string // annNormalMin
	Until     string // annUntil
}

func hpaStateOf(h *autoscalingv2.HorizontalPodAutoscaler) hpaState {
	s := hpaState{Min: 1, Max: h.Spec.MaxReplicas} // the API's default minimum
	if h.Spec.MinReplicas != nil {
		s.Min = *h.Spec.MinReplicas
	}
	s.NormalMin = h.Annotations[annNormalMin]
	s.Until = h.Annotations[annUntil]
	return s
}

// normalMin parses the recorded minimum.
func (s hpaState) normalMin() (int32, error) {
	n, err := strconv.ParseInt(s.NormalMin, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("annotation %s is %q, not a replica count: set it to the minReplicas to restore, or delete it", annNormalMin, s.NormalMin)
	}
	return int32(n), nil
}

// planHPA returns the state an HPA in state cur should have with floor
// replicas during drop window w.
//
// In a window the minimum becomes at least floor, never lower than someone
// set it, and the normal minimum is recorded the first time prescale raises
// it. Outside every window a recorded minimum is restored and the
// annotations removed; an HPA prescale did not raise is left alone.
func planHPA(cur hpaState, floor int32, w dropWindow) (hpaState, error) {
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

// hpaPatch is the JSON merge patch from an HPA at resourceVersion rv to
// next. The resourceVersion makes the API refuse it with a conflict when the
// HPA changed since it was read.
func hpaPatch(rv string, next hpaState) []byte {
	ann := map[string]*string{annNormalMin: nil, annUntil: nil} // null deletes
	if next.NormalMin != "" {
		ann[annNormalMin] = &next.NormalMin
	}
	if next.Until != "" {
		ann[annUntil] = &next.Until
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

// hpaChange is what prescale did, or would do, to one HPA.
type hpaChange struct {
	Namespace, Name string
	From, To        hpaState
}

// prescaleHPA brings the HPA namespace/name to the state planHPA wants,
// when apply, and returns the change. A conflict (the HPA changed between
// read and patch) reads and plans again.
func prescaleHPA(ctx context.Context, c hpaClient, namespace, name string, floor int32, w dropWindow, apply bool) (hpaChange, error) {
	ch := hpaChange{Namespace: namespace, Name: name}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h, err := c.GetHPA(ctx, namespace, name)
		if err != nil {
			return err
		}
		ch.From = hpaStateOf(h)
		if ch.To, err = planHPA(ch.From, floor, w); err != nil {
			return err
		}
		if !apply || ch.To == ch.From {
			return nil
		}
		return c.PatchHPA(ctx, namespace, name, hpaPatch(h.ResourceVersion, ch.To))
	})
	if err != nil {
		err = fmt.Errorf("hpa %s/%s: %w", namespace, name, err)
		if apierrors.IsForbidden(err) {
			err = fmt.Errorf("%w\n(prescale needs get and patch on horizontalpodautoscalers in namespace %s: see docs/prescale.md)", err, namespace)
		}
		return ch, err
	}
	return ch, nil
}

// describe returns the line prescale prints for the change.
func (ch hpaChange) describe(w dropWindow, apply bool) string {
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
		what = fmt.Sprintf("minReplicas %d unchanged; %s set to %s", f.Min, annUntil, t.Until)
	default:
		what = fmt.Sprintf("minReplicas %d unchanged; would set %s to %s", f.Min, annUntil, t.Until)
	}
	return fmt.Sprintf("hpa %s/%s: %s (%s)", ch.Namespace, ch.Name, what, w.why())
}
