package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var overlays = []struct {
	dir     string
	regions []string // nil: one unpinned edge Deployment
}{
	{"kubernetes/overlays/single-region", nil},
	{"kubernetes/overlays/multi-region", []string{"eu-west", "us-east"}},
}

// TestOverlays renders each overlay in process, decodes every object
// strictly into its API type and runs the semantic checks.
func TestOverlays(t *testing.T) {
	for _, ov := range overlays {
		t.Run(filepath.Base(ov.dir), func(t *testing.T) {
			o := render(t, ov.dir)
			t.Logf("%d objects", len(o.All))
			for _, p := range checkAll(t, o, "qredge") {
				t.Error(p)
			}
			c := &checker{tb: t, o: o}
			c.regions(ov.regions)
			for _, p := range c.problems {
				t.Error(p)
			}
		})
	}
}

// TestBase: the base renders and passes the checks without a namespace
// (the image is left for the overlays, so that one check is expected).
func TestBase(t *testing.T) {
	o := render(t, "kubernetes/base")
	for _, p := range checkAll(t, o, "") {
		if !strings.Contains(p, `image "qredge" has no tag`) {
			t.Error(p)
		}
	}
}

// TestSecretsExample: the keys of the Secret's template are variables of
// qredge flags, and the template holds no values.
func TestSecretsExample(t *testing.T) {
	env := readEnvFile(t, "kubernetes/base/core/secrets.env.example")
	for _, k := range []string{"QREDGE_REDIS_PASSWORD", "QREDGE_IP_HASH_SECRET", "QREDGE_API_KEY"} {
		if _, ok := env[k]; !ok {
			t.Errorf("secrets.env.example lacks %s", k)
		}
	}
	for k, v := range env {
		if !anyCommandHas(t, k) {
			t.Errorf("secrets.env.example: %s is no flag's variable", k)
		}
		if v != "" {
			t.Errorf("secrets.env.example: %s has a value; it is a template", k)
		}
	}
}

// TestDecodeRefuses: a misspelled, miscased or unknown field, or an unknown
// kind, in an in-memory copy of the edge Deployment fails the render's
// decoding. The unchanged copy passes.
func TestDecodeRefuses(t *testing.T) {
	src, err := os.ReadFile("kubernetes/base/edge/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := func(name, old, new, want string) {
		t.Helper()
		if !bytes.Contains(src, []byte(old)) {
			t.Fatalf("%s: deployment.yaml has no %q", name, old)
		}
		fs := filesys.MakeFsInMemory()
		if err := fs.MkdirAll("/app"); err != nil {
			t.Fatal(err)
		}
		must(t, fs.WriteFile("/app/kustomization.yaml", []byte("resources:\n  - deployment.yaml\n")))
		must(t, fs.WriteFile("/app/deployment.yaml", bytes.Replace(src, []byte(old), []byte(new), 1)))
		docs, err := renderFS(fs, "/app")
		if err == nil {
			for _, y := range docs {
				if _, err = decodeStrict(y); err != nil {
					break
				}
			}
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && err == nil:
			t.Errorf("%s: decoded without error, want one with %q", name, want)
		case want != "" && !strings.Contains(err.Error(), want):
			t.Errorf("%s: error %q, want one with %q", name, err, want)
		}
	}
	f("unchanged", "kind: Deployment", "kind: Deployment", "")
	f("replicaz", "  revisionHistoryLimit: 5", "  replicaz: 3\n  revisionHistoryLimit: 5", `unknown field "spec.replicaz"`)
	f("miscased", "  revisionHistoryLimit: 5", "  Replicas: 3\n  revisionHistoryLimit: 5", `unknown field "spec.Replicas"`)
	f("nested", "readinessProbe:", "readinesProbe:", `unknown field "spec.template.spec.containers[0].readinesProbe"`)
	f("wrong type", "minReadySeconds: 5", "minReadySeconds: five", "minReadySeconds")
	f("unknown kind", "kind: Deployment", "kind: Deploymnet", "unknown kind apps/v1 Deploymnet")
	f("unknown version", "apiVersion: apps/v1", "apiVersion: apps/v1beta2", "unknown kind apps/v1beta2 Deployment")
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestChecksCatch: each semantic check finds the mistake it is for, in a
// rendered overlay broken on purpose.
func TestChecksCatch(t *testing.T) {
	dir := overlays[0].dir
	if p := checkAll(t, render(t, dir), "qredge"); len(p) > 0 {
		t.Fatalf("%s has problems: %q", dir, p)
	}
	edge := func(o *objects) *appsv1.Deployment { return (&checker{o: o}).deploymentNamed("qredge-edge") }
	ctr := func(o *objects) *corev1.Container { return &edge(o).Spec.Template.Spec.Containers[0] }
	f := func(name string, breakIt func(o *objects), want string) {
		t.Helper()
		o := render(t, dir)
		breakIt(o)
		p := checkAll(t, o, "qredge")
		if !strings.Contains(strings.Join(p, "\n"), want) {
			t.Errorf("%s: problems %q, want one with %q", name, p, want)
		}
	}
	f("readiness on healthz", func(o *objects) { ctr(o).ReadinessProbe.HTTPGet.Path = "/healthz" }, "readinessProbe: path /healthz, want /readyz")
	f("no liveness", func(o *objects) { ctr(o).LivenessProbe = nil }, "livenessProbe: no HTTP GET probe")
	f("probe on the scan port", func(o *objects) { ctr(o).ReadinessProbe.HTTPGet.Port = intstr.FromString("http") }, "want the admin port 9090")
	f("admin port moved", func(o *objects) { ctr(o).Ports[1].ContainerPort = 9999 }, "want the admin port 9090")
	f("no startup probe", func(o *objects) { ctr(o).StartupProbe = nil }, "startupProbe: no HTTP GET probe")
	f("no resources", func(o *objects) { ctr(o).Resources = corev1.ResourceRequirements{} }, "want cpu and memory requests")
	f("root", func(o *objects) { edge(o).Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil }, "runAsNonRoot is not true")
	f("writable root", func(o *objects) { ctr(o).SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem")
	f("short grace", func(o *objects) { edge(o).Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(32)) }, "want more than preStop 10s + --shutdown-timeout 15s + --kafka-write-timeout 5s + 2s to close the Kafka writer")
	f("replicas under HPA", func(o *objects) { edge(o).Spec.Replicas = ptr(int32(3)) }, "sets replicas although an HPA scales it")
	f("env not a flag", func(o *objects) {
		ctr(o).Env = append(ctr(o).Env, corev1.EnvVar{Name: "QREDGE_PUBLIC_URL", Value: "x"})
	}, "QREDGE_PUBLIC_URL is not a flag of qredge edge")
	f("configmap typo", func(o *objects) { o.ConfigMaps[0].Data["QREDGE_REDIS_ADDR"] = "x" }, "QREDGE_REDIS_ADDR is no flag's variable")
	f("spool on root", func(o *objects) { ctr(o).VolumeMounts = nil }, "QREDGE_SPOOL_DIR /data/spool is not on an emptyDir")
	f("service links", func(o *objects) { edge(o).Spec.Template.Spec.EnableServiceLinks = nil }, "enableServiceLinks is not false")
	f("HPA target", func(o *objects) { o.HPAs[1].Spec.ScaleTargetRef.Name = "qredge-egde" }, "which is not a Deployment here")
	f("HPA metric", func(o *objects) {
		for _, h := range o.HPAs {
			for i := range h.Spec.Metrics {
				if h.Spec.Metrics[i].Type == autoscalingv2.PodsMetricSourceType {
					h.Spec.Metrics[i].Pods.Metric.Name = "qredge_rps"
				}
			}
		}
	}, "Pods metric qredge_rps has no prometheus-adapter rule")
	f("PDB selector", func(o *objects) {
		o.PDBs[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "qredge"}}
	}, "selects the pods of 4 Deployments")
	f("Service port", func(o *objects) {
		for _, s := range o.Services {
			s.Spec.Ports[0].TargetPort = intstr.FromString("web")
		}
	}, "targetPort web is no port")
	f("NetworkPolicy namespace", func(o *objects) {
		for _, np := range o.NetworkPolicies {
			for i := range np.Spec.Ingress {
				for j := range np.Spec.Ingress[i].From {
					if sel := np.Spec.Ingress[i].From[j].NamespaceSelector; sel != nil && sel.MatchLabels[namespaceNameLabel] == ingressNamespace {
						sel.MatchLabels[namespaceNameLabel] = "nginx"
					}
				}
			}
		}
	}, "the ingress-nginx namespace cannot reach the edges' http port")
	webhooksPolicy := func(o *objects) *networkingv1.NetworkPolicy {
		for _, np := range o.NetworkPolicies {
			if np.Name == "qredge-webhooks" {
				return np
			}
		}
		t.Fatal("no NetworkPolicy qredge-webhooks")
		return nil
	}
	f("webhooks in analytics' group", func(o *objects) {
		ctr := &(&checker{o: o}).deploymentNamed("qredge-webhooks").Spec.Template.Spec.Containers[0]
		ctr.Env = slices.DeleteFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "QREDGE_KAFKA_GROUP" })
	}, "consumes in the Kafka group qredge-analytics of qredge analytics")
	f("webhooks reach private ranges", func(o *objects) {
		for _, r := range webhooksPolicy(o).Spec.Egress {
			for _, p := range r.To {
				if p.IPBlock != nil {
					p.IPBlock.Except = slices.DeleteFunc(p.IPBlock.Except, func(e string) bool { return e == "169.254.0.0/16" })
				}
			}
		}
	}, "ipBlock 0.0.0.0/0 lets webhooks reach 169.254.0.0/16")
	f("webhooks without DNS", func(o *objects) { np := webhooksPolicy(o); np.Spec.Egress = np.Spec.Egress[1:] }, "webhooks cannot reach dns:53")
	f("webhooks egress wide open", func(o *objects) {
		np := webhooksPolicy(o)
		np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{})
	}, "an egress rule admits every destination or every port")
	f("webhooks without egress policy", func(o *objects) {
		webhooksPolicy(o).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	}, "no Egress policy")
	f("no part-of", func(o *objects) { delete(edge(o).Spec.Template.Labels, partOfLabel) }, "pods lack app.kubernetes.io/part-of")
	f("prescale contract", func(o *objects) {
		o.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args[10] = "15m"
	}, "the prescale contract")
	f("prescale HPA", func(o *objects) {
		o.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args[6] = "qredge-api"
	}, "--hpa qredge-api is not an edge HPA")
	f("prescale through qredge", func(o *objects) {
		ctr := &o.CronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		ctr.Command, ctr.Args = nil, append([]string{"prescale"}, ctr.Args...)
	}, "want [\"/usr/local/bin/qredge-prescale\"] (the prescale contract)")
	f("prescale RBAC", func(o *objects) { o.Roles[0].Rules[0].Verbs = []string{"get"} }, "may not autoscaling/horizontalpodautoscalers/patch")
	f("prescale RBAC wider", func(o *objects) {
		o.Roles[0].Rules = append(o.Roles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}})
	}, "grants apps/deployments/patch")
	f("namespace", func(o *objects) { o.Services[0].Namespace = "default" }, `is in namespace "default"`)
	f("rendered secret", func(o *objects) {
		o.Secrets = append(o.Secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: "qredge"}})
	}, "Secret qredge-secrets is rendered")
}

func ptr[T any](v T) *T { return &v }

// TestRegionsCatch: in the multi-region overlay, an edge not pinned to its
// region, or a budget spanning both regions, is found.
func TestRegionsCatch(t *testing.T) {
	dir := overlays[1].dir
	f := func(name string, breakIt func(o *objects), want string) {
		t.Helper()
		o := render(t, dir)
		breakIt(o)
		c := &checker{tb: t, o: o}
		c.regions(overlays[1].regions)
		p := append(checkAll(t, o, "qredge"), c.problems...)
		if !strings.Contains(strings.Join(p, "\n"), want) {
			t.Errorf("%s: problems %q, want one with %q", name, p, want)
		}
	}
	f("unpinned", func(o *objects) {
		(&checker{o: o}).deploymentNamed("qredge-edge-eu-west").Spec.Template.Spec.Affinity = nil
	}, "Deployment qredge-edge-eu-west: pinned to regions [], want [eu-west]")
	f("budget across regions", func(o *objects) {
		for _, p := range o.PDBs {
			if p.Name == "qredge-edge-us-east" {
				delete(p.Spec.Selector.MatchLabels, "qredge.io/region")
			}
		}
	}, "PDB qredge-edge-us-east selects the pods of 2 Deployments")
	f("one prescale for two regions", func(o *objects) {
		o.CronJobs[1].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args[6] = "qredge-edge-eu-west"
	}, "or another CronJob has it")
}
