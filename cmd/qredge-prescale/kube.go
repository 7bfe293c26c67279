package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/qredge/qredge/internal/cli"
	"github.com/qredge/qredge/internal/prescale"
)

// newHPAClient connects to Kubernetes with kubeconfig, or without it with
// the in-cluster service account, else $KUBECONFIG or ~/.kube/config.
// Tests replace it.
var newHPAClient = func(kubeconfig string) (prescale.HPAClient, error) {
	rc, err := kubeRESTConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 30 * time.Second
	v, _ := cli.Version(version, "unknown")
	rc.UserAgent = "qredge-prescale/" + v
	return newRESTHPA(rc)
}

// restHPA is prescale.HPAClient over HTTP, with client-go's REST
// configuration for the address, credentials and TLS. It is not
// client-go's typed clientset on purpose: that registers the types of
// every API group when the program starts, about 17 ms and 9 MB for the
// two calls prescale makes.
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

func (r *restHPA) GetHPA(ctx context.Context, namespace, name string) (prescale.HPA, error) {
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := r.do(ctx, http.MethodGet, namespace, name, nil, h); err != nil {
		return prescale.HPA{}, err
	}
	return hpaOf(h), nil
}

func (r *restHPA) PatchHPA(ctx context.Context, namespace, name string, mergePatch []byte) error {
	return r.do(ctx, http.MethodPatch, namespace, name, mergePatch, nil)
}

// hpaOf returns what the planner reads of h.
func hpaOf(h *autoscalingv2.HorizontalPodAutoscaler) prescale.HPA {
	return prescale.HPA{
		ResourceVersion: h.ResourceVersion,
		MinReplicas:     h.Spec.MinReplicas,
		MaxReplicas:     h.Spec.MaxReplicas,
		Annotations:     h.Annotations,
	}
}

// do sends one request for the HPA namespace/name and decodes the answer
// into out, or a Kubernetes Status into an apiError.
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
			return apiError{&apierrors.StatusError{ErrStatus: st}}
		}
		return apiError{apierrors.NewGenericServerResponse(resp.StatusCode, method, hpaResource, name, string(b), 0, false)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// apiError is an error status of the Kubernetes API. It reads as the
// API's message, unwraps to client-go's *StatusError (apierrors.IsNotFound
// and the like work), and is prescale.ErrConflict or
// prescale.ErrForbidden for the planner.
type apiError struct{ *apierrors.StatusError }

func (e apiError) Unwrap() error { return e.StatusError }

func (e apiError) Is(target error) bool {
	switch target {
	case prescale.ErrConflict:
		return apierrors.IsConflict(e.StatusError)
	case prescale.ErrForbidden:
		return apierrors.IsForbidden(e.StatusError)
	}
	return false
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
