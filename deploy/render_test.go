package deploy

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kinds maps apiVersion and kind to a new object of its API type. A kind
// the manifests use must be listed here, or decoding refuses it.
var kinds = map[string]func() any{
	"v1/Namespace":                             func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                             func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                                func() any { return new(corev1.Secret) },
	"v1/Service":                               func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                        func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                       func() any { return new(appsv1.Deployment) },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"policy/v1/PodDisruptionBudget":            func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return new(networkingv1.NetworkPolicy) },
	"batch/v1/CronJob":                         func() any { return new(batchv1.CronJob) },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return new(rbacv1.RoleBinding) },
}

// decodeStrict decodes one YAML object into its API type, chosen by
// apiVersion and kind. It refuses unknown kinds, unknown or misspelled
// fields (matched case-sensitively, as the API server does: encoding/json
// would take "Replicas" for "replicas") and duplicate fields.
func decodeStrict(y []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return nil, err
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown kind %s %s", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	strict, err := k8sjson.UnmarshalStrict(j, obj, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s: %v", tm.Kind, strict)
	}
	return obj, nil
}

// renderFS runs kustomize build on dir, in process, and returns each
// object's YAML.
func renderFS(fs filesys.FileSystem, dir string) ([][]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		out = append(out, y)
	}
	return out, nil
}

// objects is a rendered overlay, decoded, by kind.
type objects struct {
	Namespaces      []*corev1.Namespace
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	ServiceAccounts []*corev1.ServiceAccount
	Deployments     []*appsv1.Deployment
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	NetworkPolicies []*networkingv1.NetworkPolicy
	CronJobs        []*batchv1.CronJob
	Roles           []*rbacv1.Role
	RoleBindings    []*rbacv1.RoleBinding
	All             []metav1.Object
}

func (o *objects) add(obj any) {
	switch v := obj.(type) {
	case *corev1.Namespace:
		o.Namespaces = append(o.Namespaces, v)
	case *corev1.ConfigMap:
		o.ConfigMaps = append(o.ConfigMaps, v)
	case *corev1.Secret:
		o.Secrets = append(o.Secrets, v)
	case *corev1.Service:
		o.Services = append(o.Services, v)
	case *corev1.ServiceAccount:
		o.ServiceAccounts = append(o.ServiceAccounts, v)
	case *appsv1.Deployment:
		o.Deployments = append(o.Deployments, v)
	case *autoscalingv2.HorizontalPodAutoscaler:
		o.HPAs = append(o.HPAs, v)
	case *policyv1.PodDisruptionBudget:
		o.PDBs = append(o.PDBs, v)
	case *networkingv1.NetworkPolicy:
		o.NetworkPolicies = append(o.NetworkPolicies, v)
	case *batchv1.CronJob:
		o.CronJobs = append(o.CronJobs, v)
	case *rbacv1.Role:
		o.Roles = append(o.Roles, v)
	case *rbacv1.RoleBinding:
		o.RoleBindings = append(o.RoleBindings, v)
	default:
		panic(fmt.Sprintf("BUG: %T is in kinds but not in objects", obj))
	}
	o.All = append(o.All, obj.(metav1.Object))
}

// render builds an overlay directory on disk and decodes every object.
func render(tb testing.TB, dir string) *objects {
	tb.Helper()
	docs, err := renderFS(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{}
	for _, y := range docs {
		obj, err := decodeStrict(y)
		if err != nil {
			tb.Fatalf("kustomize build %s: %v\n%s", dir, err, y)
		}
		o.add(obj)
	}
	return o
}
