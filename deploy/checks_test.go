package deploy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The semantic checks of a rendered overlay. Each returns problems rather
// than failing, so that TestChecksCatch can show that a broken object is
// caught.

// The names the manifests agree on with the code and with each other.
const (
	secretName         = "qredge-secrets"
	configName         = "qredge-config" // generated, with a hash suffix
	partOfLabel        = "app.kubernetes.io/part-of"
	zoneKey            = "topology.kubernetes.io/zone"
	regionKey          = "topology.kubernetes.io/region"
	requestsMetric     = "qredge_requests_per_second"
	lagMetric          = "qredge_analytics_lag"
	ingressNamespace   = "ingress-nginx"
	monitoringNamesp   = "monitoring"
	namespaceNameLabel = "kubernetes.io/metadata.name"
)

// prescaleCommand and prescaleArgs are the command line of the prescale
// CronJob: the image's qredge-prescale, which has the flags of qredge
// prescale, with the value of --hpa left out (each region has its own HPA).
var (
	prescaleCommand = []string{"/usr/local/bin/qredge-prescale"}
	prescaleArgs    = []string{"--redis", "$(QREDGE_REDIS)", "--apply", "--namespace", "$(POD_NAMESPACE)",
		"--hpa", "", "--replicas", "20", "--lead-time", "30m", "--hold", "2h", "--window", "1h"}
)

type checker struct {
	tb       testing.TB
	o        *objects
	problems []string
}

func (c *checker) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// checkAll runs every semantic check on a rendered overlay (or the base,
// with namespace "").
func checkAll(tb testing.TB, o *objects, namespace string) []string {
	c := &checker{tb: tb, o: o}
	c.namespaces(namespace)
	c.config()
	images := map[string]bool{}
	for _, d := range o.Deployments {
		c.deployment(d)
		images[d.Spec.Template.Spec.Containers[0].Image] = true
	}
	for _, cj := range o.CronJobs {
		images[cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image] = true
	}
	if len(images) != 1 {
		c.errorf("the workloads run %d images %v, want one", len(images), images)
	}
	c.kafkaGroups()
	c.hpas()
	c.pdbs()
	c.services()
	c.networkPolicies()
	c.prescale()
	return c.problems
}

func (c *checker) namespaces(ns string) {
	var names []string
	for _, n := range c.o.Namespaces {
		names = append(names, n.Name)
	}
	if ns == "" && len(names) > 0 || ns != "" && !slices.Equal(names, []string{ns}) {
		c.errorf("Namespaces %v, want [%s]", names, ns)
	}
	for _, obj := range c.o.All {
		if _, ok := obj.(*corev1.Namespace); !ok && obj.GetNamespace() != ns {
			c.errorf("%T %s is in namespace %q, want %q", obj, obj.GetName(), obj.GetNamespace(), ns)
		}
	}
}

// configMap returns the generated qredge-config.
func (c *checker) configMap() *corev1.ConfigMap {
	var found []*corev1.ConfigMap
	for _, cm := range c.o.ConfigMaps {
		if strings.HasPrefix(cm.Name, configName+"-") || cm.Name == configName {
			found = append(found, cm)
		}
	}
	if len(found) != 1 {
		c.errorf("%d ConfigMaps %s, want 1", len(found), configName)
		return &corev1.ConfigMap{}
	}
	return found[0]
}

func (c *checker) config() {
	for k := range c.configMap().Data {
		if !anyCommandHas(c.tb, k) {
			c.errorf("ConfigMap %s: %s is no flag's variable (qredge <command> --help)", configName, k)
		}
	}
	// The Secret is created out of band (secrets.env.example): applying
	// the manifests must never overwrite it.
	for _, s := range c.o.Secrets {
		c.errorf("Secret %s is rendered; the manifests only refer to %s", s.Name, secretName)
	}
}

// shutdownTimeout is QREDGE_SHUTDOWN_TIMEOUT from the ConfigMap, or the
// flag's default.
func (c *checker) shutdownTimeout(command string) time.Duration {
	d, _ := c.durationSetting(command, "QREDGE_SHUTDOWN_TIMEOUT")
	return d
}

// durationSetting is a duration setting of a command: the ConfigMap's
// value, or else the flag's default; ok is false when the command has no
// such flag.
func (c *checker) durationSetting(command, env string) (d time.Duration, ok bool) {
	f, ok := mustFlags(c.tb, command)[env]
	if !ok {
		return 0, false
	}
	v, set := c.configMap().Data[env]
	if !set {
		v = f.Default
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		c.errorf("%s %q: %v", env, v, err)
	}
	return d, true
}

// kafkaCloseTimeout is analytics/kafka.CloseTimeout: how long an
// edge's shutdown waits for Kafka writes still in flight.
const kafkaCloseTimeout = 2 * time.Second

// command is the qredge command of a pod: its first argument.
func command(spec *corev1.PodSpec) string {
	if len(spec.Containers) == 0 || len(spec.Containers[0].Args) == 0 {
		return ""
	}
	return spec.Containers[0].Args[0]
}

func selects(sel *metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(lbls))
}

// selected returns the Deployments whose pods sel selects.
func (c *checker) selected(sel *metav1.LabelSelector) []*appsv1.Deployment {
	var r []*appsv1.Deployment
	for _, d := range c.o.Deployments {
		if selects(sel, d.Spec.Template.Labels) {
			r = append(r, d)
		}
	}
	return r
}

func (c *checker) deploymentNamed(name string) *appsv1.Deployment {
	for _, d := range c.o.Deployments {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (c *checker) hpaFor(d *appsv1.Deployment) []*autoscalingv2.HorizontalPodAutoscaler {
	var r []*autoscalingv2.HorizontalPodAutoscaler
	for _, h := range c.o.HPAs {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			r = append(r, h)
		}
	}
	return r
}

// port resolves a port (by name or number) to a container port.
func port(ctr *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range ctr.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func (c *checker) probe(what string, p *corev1.Probe, ctr *corev1.Container, path string, adminPort int) {
	if p == nil || p.HTTPGet == nil {
		c.errorf("%s: no HTTP GET probe", what)
		return
	}
	if p.HTTPGet.Path != path {
		c.errorf("%s: path %s, want %s", what, p.HTTPGet.Path, path)
	}
	if n, ok := port(ctr, p.HTTPGet.Port); !ok || int(n) != adminPort {
		c.errorf("%s: port %s is %d, want the admin port %d", what, p.HTTPGet.Port.String(), n, adminPort)
	}
}

// podSecurity: non-root, no privilege escalation, no capabilities, a
// read-only root file system, the runtime's seccomp profile, as the
// "restricted" Pod Security Standard asks.
func (c *checker) podSecurity(what string, spec *corev1.PodSpec) {
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, ctr := range spec.Containers {
		sc := ctr.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		w := what + " container " + ctr.Name
		if !ptrTrue(sc.RunAsNonRoot) && !ptrTrue(psc.RunAsNonRoot) {
			c.errorf("%s: runAsNonRoot is not true", w)
		}
		uid := psc.RunAsUser
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if uid == nil || *uid == 0 {
			c.errorf("%s: runAsUser is not set to a non-root uid", w)
		}
		if !ptrTrue(sc.ReadOnlyRootFilesystem) {
			c.errorf("%s: readOnlyRootFilesystem is not true", w)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			c.errorf("%s: allowPrivilegeEscalation is not false", w)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			c.errorf("%s: capabilities do not drop ALL", w)
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			c.errorf("%s: seccompProfile is not RuntimeDefault", w)
		}
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		c.errorf("%s: enableServiceLinks is not false (service links put QREDGE_<SERVICE>_PORT and the like in the flags' namespace)", what)
	}
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// env checks a container's variables: the explicit QREDGE_ ones must be
// flags of its command, the envFrom sources the ConfigMap and the Secret.
func (c *checker) env(what string, ctr *corev1.Container, cmd string) {
	flags := commandFlags(c.tb, cmd)
	for _, e := range ctr.Env {
		if !strings.HasPrefix(e.Name, "QREDGE_") {
			continue
		}
		if flags == nil {
			c.tb.Logf("%s: qredge %s has no flags yet; %s not checked", what, cmd, e.Name)
		} else if _, ok := flags[e.Name]; !ok {
			c.errorf("%s: %s is not a flag of qredge %s", what, e.Name, cmd)
		}
	}
	cm := c.configMap()
	var refs []string
	for _, ef := range ctr.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			refs = append(refs, "configMap")
			if ef.ConfigMapRef.Name != cm.Name {
				c.errorf("%s: envFrom ConfigMap %s, want %s", what, ef.ConfigMapRef.Name, cm.Name)
			}
		case ef.SecretRef != nil:
			refs = append(refs, "secret")
			if ef.SecretRef.Name != secretName {
				c.errorf("%s: envFrom Secret %s, want %s", what, ef.SecretRef.Name, secretName)
			}
			if ptrTrue(ef.SecretRef.Optional) {
				c.errorf("%s: Secret %s is optional: a missing Secret would start edges with a random IP hash secret", what, secretName)
			}
		}
	}
	if !slices.Equal(refs, []string{"configMap", "secret"}) {
		c.errorf("%s: envFrom %v, want the ConfigMap then the Secret", what, refs)
	}
}

func (c *checker) deployment(d *appsv1.Deployment) {
	what := "Deployment " + d.Name
	spec := &d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		c.errorf("%s: %d containers, want 1", what, len(spec.Containers))
		return
	}
	ctr := &spec.Containers[0]
	cmd := command(spec)
	if !slices.Contains([]string{"edge", "api", "analytics", "webhooks"}, cmd) {
		c.errorf("%s: runs qredge %q, want edge, api, analytics or webhooks", what, cmd)
		return
	}
	if d.Spec.Selector == nil || !selects(d.Spec.Selector, d.Spec.Template.Labels) {
		c.errorf("%s: the selector does not select its own pods", what)
	}
	if d.Spec.Template.Labels[partOfLabel] != "qredge" {
		c.errorf("%s: pods lack %s: qredge (the Redis NetworkPolicy admits only those)", what, partOfLabel)
	}
	if ctr.Image == "" || ctr.Image == "qredge" || !strings.ContainsAny(ctr.Image, ":@") {
		c.errorf("%s: image %q has no tag or digest (the overlay sets it)", what, ctr.Image)
	}

	admin := defaultPort(c.tb, cmd, "QREDGE_ADMIN_LISTEN")
	c.probe(what+" readinessProbe", ctr.ReadinessProbe, ctr, "/readyz", admin)
	c.probe(what+" livenessProbe", ctr.LivenessProbe, ctr, "/healthz", admin)
	if _, ok := mustFlags(c.tb, cmd)["QREDGE_LISTEN"]; ok {
		if n, ok := port(ctr, intstr.FromString("http")); !ok || int(n) != defaultPort(c.tb, cmd, "QREDGE_LISTEN") {
			c.errorf("%s: port http is %d, want %d (qredge %s --listen)", what, n, defaultPort(c.tb, cmd, "QREDGE_LISTEN"), cmd)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(admin) || ann["prometheus.io/path"] != "/metrics" {
		c.errorf("%s: prometheus.io annotations %v, want scrape true, port %d, path /metrics", what, ann, admin)
	}

	req, lim := ctr.Resources.Requests, ctr.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		c.errorf("%s: want cpu and memory requests and a memory limit, have %v / %v", what, req, lim)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q := req[r]
		if l, ok := lim[r]; ok && l.Cmp(q) < 0 {
			c.errorf("%s: %s limit %s below the request %s", what, r, l.String(), q.String())
		}
	}
	c.podSecurity(what, spec)
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		c.errorf("%s: automountServiceAccountToken is not false (qredge never calls the Kubernetes API)", what)
	}
	c.env(what, ctr, cmd)

	// SIGTERM comes after preStop; then qredge drains for up to
	// --shutdown-timeout, and an edge then hands its last events to Kafka
	// or the spool: a publish already under way may take --kafka-write-timeout,
	// closing the writer kafkaCloseTimeout. The grace period must cover
	// all of it.
	var sleep time.Duration
	if ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil {
		if ctr.Lifecycle.PreStop.Sleep == nil {
			c.errorf("%s: preStop is not a sleep action (the image has no shell)", what)
		} else {
			sleep = time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
	}
	grace := 30 * time.Second
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	st := c.shutdownTimeout(cmd)
	if kt, ok := c.durationSetting(cmd, "QREDGE_KAFKA_WRITE_TIMEOUT"); ok {
		if grace <= sleep+st+kt+kafkaCloseTimeout {
			c.errorf("%s: terminationGracePeriodSeconds %v, want more than preStop %v + --shutdown-timeout %v + --kafka-write-timeout %v + %v to close the Kafka writer", what, grace, sleep, st, kt, kafkaCloseTimeout)
		}
	} else if grace <= sleep+st {
		c.errorf("%s: terminationGracePeriodSeconds %v, want more than preStop %v + --shutdown-timeout %v", what, grace, sleep, st)
	}

	if len(c.hpaFor(d)) > 0 && d.Spec.Replicas != nil {
		c.errorf("%s: sets replicas although an HPA scales it (an apply that changes it overrides the HPA; leave it out)", what)
	}

	// Writable paths: with a read-only root, the spool must be on a volume.
	for _, e := range ctr.Env {
		if e.Name != "QREDGE_SPOOL_DIR" {
			continue
		}
		if !c.onEmptyDir(spec, ctr, e.Value) {
			c.errorf("%s: QREDGE_SPOOL_DIR %s is not on an emptyDir volume with a sizeLimit above QREDGE_SPOOL_MAX_BYTES", what, e.Value)
		}
	}

	if cmd == "edge" {
		c.edge(what, d, ctr, admin, sleep)
	}
}

// onEmptyDir reports whether path is on an emptyDir mount whose sizeLimit
// exceeds the container's QREDGE_SPOOL_MAX_BYTES (or the default).
func (c *checker) onEmptyDir(spec *corev1.PodSpec, ctr *corev1.Container, path string) bool {
	max := mustFlags(c.tb, "edge")["QREDGE_SPOOL_MAX_BYTES"].Default
	for _, e := range ctr.Env {
		if e.Name == "QREDGE_SPOOL_MAX_BYTES" {
			max = e.Value
		}
	}
	maxBytes, err := strconv.ParseInt(max, 10, 64)
	if err != nil {
		c.errorf("QREDGE_SPOOL_MAX_BYTES %q: %v", max, err)
	}
	for _, m := range ctr.VolumeMounts {
		if m.ReadOnly || (path != m.MountPath && !strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")) {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Value() > maxBytes {
				return true
			}
		}
	}
	return false
}

func (c *checker) edge(what string, d *appsv1.Deployment, ctr *corev1.Container, admin int, sleep time.Duration) {
	// No scan before the table is loaded, and liveness held off while it
	// loads: 10 million links need minutes on a busy node.
	c.probe(what+" startupProbe", ctr.StartupProbe, ctr, "/readyz", admin)
	if p := ctr.StartupProbe; p != nil && time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second < 5*time.Minute {
		c.errorf("%s: startupProbe allows %ds, want at least 5 minutes to load 10 million links", what, p.PeriodSeconds*p.FailureThreshold)
	}
	if sleep < 5*time.Second {
		c.errorf("%s: preStop sleep %v, want at least 5s for the endpoint to leave the load balancers before SIGTERM", what, sleep)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		c.errorf("%s: rolling updates may lower capacity (maxUnavailable is not 0)", what)
	}
	zone := false
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		if tsc.TopologyKey == zoneKey && selects(tsc.LabelSelector, d.Spec.Template.Labels) {
			zone = true
		}
	}
	if !zone {
		c.errorf("%s: no topologySpreadConstraint over %s selecting its pods", what, zoneKey)
	}
	if len(c.hpaFor(d)) != 1 {
		c.errorf("%s: %d HPAs, want 1", what, len(c.hpaFor(d)))
	}
}

// adapterRules returns the metric names the prometheus-adapter values
// define, by kind (custom, external), and the series they come from.
func adapterRules(tb testing.TB) map[string]map[string]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("kubernetes", "prometheus-adapter", "values.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	type rule struct {
		SeriesQuery string `json:"seriesQuery"`
		Resources   struct {
			Overrides map[string]struct {
				Resource string `json:"resource"`
			} `json:"overrides"`
		} `json:"resources"`
		Name struct {
			Matches string `json:"matches"`
			As      string `json:"as"`
		} `json:"name"`
		MetricsQuery string `json:"metricsQuery"`
	}
	var v struct {
		Rules struct {
			Default  bool   `json:"default"`
			Custom   []rule `json:"custom"`
			External []rule `json:"external"`
		} `json:"rules"`
	}
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		tb.Fatalf("prometheus-adapter/values.yaml: %v", err)
	}
	r := map[string]map[string]string{"custom": {}, "external": {}, "query": {}}
	for kind, rules := range map[string][]rule{"custom": v.Rules.Custom, "external": v.Rules.External} {
		for _, x := range rules {
			series, _, _ := strings.Cut(x.SeriesQuery, "{")
			r[kind][x.Name.As] = series
			r["query"][x.Name.As] = x.MetricsQuery
		}
	}
	return r
}

func (c *checker) hpas() {
	rules := adapterRules(c.tb)
	for _, h := range c.o.HPAs {
		what := "HPA " + h.Name
		ref := h.Spec.ScaleTargetRef
		d := c.deploymentNamed(ref.Name)
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || d == nil {
			c.errorf("%s: targets %s %s %s, which is not a Deployment here", what, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			c.errorf("%s: minReplicas %v, maxReplicas %d: want 2 <= min <= max", what, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		var have []string
		for _, m := range h.Spec.Metrics {
			switch m.Type {
			case autoscalingv2.ResourceMetricSourceType:
				have = append(have, "Resource/"+string(m.Resource.Name))
			case autoscalingv2.PodsMetricSourceType:
				have = append(have, "Pods/"+m.Pods.Metric.Name)
				if _, ok := rules["custom"][m.Pods.Metric.Name]; !ok {
					c.errorf("%s: Pods metric %s has no prometheus-adapter rule", what, m.Pods.Metric.Name)
				}
			case autoscalingv2.ExternalMetricSourceType:
				have = append(have, "External/"+m.External.Metric.Name)
				if _, ok := rules["external"][m.External.Metric.Name]; !ok {
					c.errorf("%s: External metric %s has no prometheus-adapter rule", what, m.External.Metric.Name)
				}
				// qredge webhooks exports the analytics consumer's
				// gauges too: the rule must count only this target's pods.
				if m.External.Metric.Name == lagMetric && !strings.Contains(rules["query"][lagMetric], `pod=~"`+ref.Name+`-.+"`) {
					c.errorf("%s: the prometheus-adapter rule of %s does not select only the pods of %s (pod=~\"%s-.+\" in its metricsQuery)", what, lagMetric, ref.Name, ref.Name)
				}
			default:
				have = append(have, string(m.Type))
			}
		}
		want := map[string][]string{
			"edge":      {"Resource/cpu", "Pods/" + requestsMetric},
			"analytics": {"External/" + lagMetric},
		}[command(&d.Spec.Template.Spec)]
		if !slices.Equal(have, want) {
			c.errorf("%s: metrics %v, want %v", what, have, want)
		}
	}
	for _, d := range c.o.Deployments {
		if cmd := command(&d.Spec.Template.Spec); (cmd == "edge" || cmd == "analytics") && len(c.hpaFor(d)) != 1 {
			c.errorf("Deployment %s: %d HPAs, want 1", d.Name, len(c.hpaFor(d)))
		}
	}
}

func (c *checker) pdbs() {
	count := map[string]int{}
	for _, p := range c.o.PDBs {
		ds := c.selected(p.Spec.Selector)
		if len(ds) != 1 {
			c.errorf("PDB %s selects the pods of %d Deployments, want 1", p.Name, len(ds))
			continue
		}
		count[ds[0].Name]++
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			c.errorf("PDB %s: want one of minAvailable and maxUnavailable", p.Name)
		}
	}
	for _, d := range c.o.Deployments {
		if count[d.Name] != 1 {
			c.errorf("Deployment %s: %d PDBs, want 1", d.Name, count[d.Name])
		}
	}
}

func (c *checker) services() {
	count := map[string]int{}
	for _, s := range c.o.Services {
		ds := c.selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(ds) != 1 {
			c.errorf("Service %s selects the pods of %d Deployments, want 1", s.Name, len(ds))
			continue
		}
		count[ds[0].Name]++
		for _, p := range s.Spec.Ports {
			if _, ok := port(&ds[0].Spec.Template.Spec.Containers[0], p.TargetPort); !ok {
				c.errorf("Service %s: targetPort %s is no port of %s", s.Name, p.TargetPort.String(), ds[0].Name)
			}
		}
	}
	for _, d := range c.o.Deployments {
		if cmd := command(&d.Spec.Template.Spec); (cmd == "edge" || cmd == "api") && count[d.Name] != 1 {
			c.errorf("Deployment %s: %d Services, want 1", d.Name, count[d.Name])
		}
	}
}

// allows reports whether a policy admits traffic from pods in the
// namespace labelled name to the port.
func allows(np *networkingv1.NetworkPolicy, namespace string, p intstr.IntOrString) bool {
	for _, rule := range np.Spec.Ingress {
		from := false
		for _, peer := range rule.From {
			if peer.PodSelector == nil && peer.IPBlock == nil && selects(peer.NamespaceSelector, map[string]string{namespaceNameLabel: namespace}) {
				from = true
			}
		}
		for _, rp := range rule.Ports {
			if from && rp.Port != nil && *rp.Port == p {
				return true
			}
		}
	}
	return false
}

func (c *checker) networkPolicies() {
	covered := map[string]bool{}
	redis := false
	for _, np := range c.o.NetworkPolicies {
		what := "NetworkPolicy " + np.Name
		egress := slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress})
		if !egress && !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			c.errorf("%s: policyTypes %v, want [Ingress] (or [Ingress Egress] for webhooks)", what, np.Spec.PolicyTypes)
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 || len(rule.Ports) == 0 {
				c.errorf("%s: a rule admits every source or every port", what)
			}
		}
		if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "redis" {
			redis = true
			// Every qredge pod reaches Redis: they all carry part-of.
			ok := false
			for _, rule := range np.Spec.Ingress {
				for _, peer := range rule.From {
					if peer.NamespaceSelector == nil && peer.PodSelector != nil && peer.PodSelector.MatchLabels[partOfLabel] == "qredge" {
						ok = slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port.IntValue() == 6379 })
					}
				}
			}
			if !ok {
				c.errorf("%s: does not admit %s: qredge pods to port 6379", what, partOfLabel)
			}
			continue
		}
		ds := c.selected(&np.Spec.PodSelector)
		if len(ds) != 1 {
			c.errorf("%s selects the pods of %d Deployments, want 1", what, len(ds))
			continue
		}
		d := ds[0]
		covered[d.Name] = true
		ctr := &d.Spec.Template.Spec.Containers[0]
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if _, ok := port(ctr, *p.Port); !ok {
					c.errorf("%s: port %s is no port of %s", what, p.Port.String(), d.Name)
				}
			}
		}
		if !allows(np, monitoringNamesp, intstr.FromString("admin")) {
			c.errorf("%s: the %s namespace cannot reach /metrics on the admin port", what, monitoringNamesp)
		}
		if cmd := command(&d.Spec.Template.Spec); cmd == "edge" && !allows(np, ingressNamespace, intstr.FromString("http")) {
			c.errorf("%s: the %s namespace cannot reach the edges' http port", what, ingressNamespace)
		}
		switch cmd := command(&d.Spec.Template.Spec); {
		case cmd == "webhooks" && !egress:
			c.errorf("%s: no Egress policy: webhooks connect to addresses users choose", what)
		case cmd != "webhooks" && egress:
			c.errorf("%s: an Egress policy for qredge %s, which has no egress rules to keep in step", what, cmd)
		case egress:
			c.webhooksEgress(what, np)
		}
	}
	if !redis {
		c.errorf("no NetworkPolicy for Redis (app.kubernetes.io/name: redis)")
	}
	for _, d := range c.o.Deployments {
		if !covered[d.Name] {
			c.errorf("Deployment %s: no NetworkPolicy selects it", d.Name)
		}
	}
}

// privateRanges are the ranges a webhooks pod must not reach on the
// receivers' rule: private, shared (CGNAT) and link-local (cloud
// metadata), where nodes, pods and Services live; IPv4, then IPv6.
var privateRanges = []string{"10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"}

// webhooksEgress checks the webhooks' egress rules: DNS, Redis and Kafka
// reachable, receivers on 443 and 80, and no rule that opens everything
// or the private ranges (a narrower rule an operator adds for receivers
// inside the network is fine).
func (c *checker) webhooksEgress(what string, np *networkingv1.NetworkPolicy) {
	reach := map[string]bool{}
	for _, rule := range np.Spec.Egress {
		if len(rule.To) == 0 || len(rule.Ports) == 0 {
			c.errorf("%s: an egress rule admits every destination or every port", what)
			continue
		}
		var ports []string
		for _, p := range rule.Ports {
			if p.Port != nil {
				ports = append(ports, p.Port.String())
			}
		}
		for _, peer := range rule.To {
			switch {
			case peer.IPBlock != nil:
				cidr, err := netip.ParsePrefix(peer.IPBlock.CIDR)
				if err != nil {
					c.errorf("%s: ipBlock %s: %v", what, peer.IPBlock.CIDR, err)
					continue
				}
				for _, r := range privateRanges {
					pr := netip.MustParsePrefix(r)
					if !cidr.Contains(pr.Addr()) || cidr.Bits() > pr.Bits() {
						continue
					}
					if !slices.ContainsFunc(peer.IPBlock.Except, func(e string) bool {
						ep, err := netip.ParsePrefix(e)
						return err == nil && ep.Bits() <= pr.Bits() && ep.Contains(pr.Addr())
					}) {
						c.errorf("%s: ipBlock %s lets webhooks reach %s", what, peer.IPBlock.CIDR, r)
					}
				}
				if cidr.Bits() == 0 {
					for _, p := range ports {
						reach["internet:"+p] = true
					}
				}
			case peer.PodSelector != nil && peer.NamespaceSelector != nil && peer.PodSelector.MatchLabels["k8s-app"] == "kube-dns":
				for _, p := range ports {
					reach["dns:"+p] = true
				}
			case peer.PodSelector != nil && peer.NamespaceSelector == nil:
				for _, p := range ports {
					reach[peer.PodSelector.MatchLabels["app.kubernetes.io/name"]+":"+p] = true
				}
			}
		}
	}
	for _, need := range []string{"dns:53", "redis:6379", "kafka:9092", "internet:443", "internet:80"} {
		if !reach[need] {
			c.errorf("%s: webhooks cannot reach %s", what, need)
		}
	}
}

// kafkaGroups: each command that consumes the topic does it in a group of
// its own (the ConfigMap's QREDGE_KAFKA_GROUP, a container's own, or the
// flag's default). Two commands in one group split the partitions: each
// would miss the other's events.
func (c *checker) kafkaGroups() {
	groups := map[string]string{} // group -> command
	for _, d := range c.o.Deployments {
		cmd := command(&d.Spec.Template.Spec)
		f, ok := commandFlags(c.tb, cmd)["QREDGE_KAFKA_GROUP"]
		if !ok {
			continue
		}
		g := f.Default
		if v, set := c.configMap().Data["QREDGE_KAFKA_GROUP"]; set {
			g = v
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "QREDGE_KAFKA_GROUP" {
				g = e.Value
			}
		}
		if other, dup := groups[g]; dup && other != cmd {
			c.errorf("Deployment %s: qredge %s consumes in the Kafka group %s of qredge %s (set its own QREDGE_KAFKA_GROUP)", d.Name, cmd, g, other)
		}
		groups[g] = cmd
	}
}

func (c *checker) prescale() {
	edgeHPAs := map[string]bool{}
	for _, h := range c.o.HPAs {
		if d := c.deploymentNamed(h.Spec.ScaleTargetRef.Name); d != nil && command(&d.Spec.Template.Spec) == "edge" {
			edgeHPAs[h.Name] = false
		}
	}
	flags := mustFlags(c.tb, "prescale")
	for _, cj := range c.o.CronJobs {
		what := "CronJob " + cj.Name
		spec := &cj.Spec.JobTemplate.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			c.errorf("%s: %d containers, want 1", what, len(spec.Containers))
			continue
		}
		ctr := &spec.Containers[0]
		if !slices.Equal(ctr.Command, prescaleCommand) {
			c.errorf("%s: command %q, want %q (the prescale contract)", what, ctr.Command, prescaleCommand)
		}
		args := slices.Clone(ctr.Args)
		i := slices.Index(args, "--hpa")
		if i < 0 || i+1 >= len(args) {
			c.errorf("%s: no --hpa", what)
			continue
		}
		hpa := args[i+1]
		args[i+1] = ""
		if !slices.Equal(args, prescaleArgs) {
			c.errorf("%s: args %q, want %q (the prescale contract)", what, ctr.Args, prescaleArgs)
		}
		if used, ok := edgeHPAs[hpa]; !ok || used {
			c.errorf("%s: --hpa %s is not an edge HPA, or another CronJob has it", what, hpa)
		}
		edgeHPAs[hpa] = true
		for _, a := range args {
			if name, ok := strings.CutPrefix(a, "--"); ok && !slices.ContainsFunc(mapValues(flags), func(f flag) bool { return f.Name == name }) {
				c.errorf("%s: --%s is not a flag of qredge prescale", what, name)
			}
		}
		// $(VAR) in args is expanded by the kubelet from the container's
		// variables: both must exist.
		if _, ok := c.configMap().Data["QREDGE_REDIS"]; !ok {
			c.errorf("%s: $(QREDGE_REDIS) is not in the ConfigMap", what)
		}
		if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool {
			return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		}) {
			c.errorf("%s: no POD_NAMESPACE from metadata.namespace for $(POD_NAMESPACE)", what)
		}
		c.env(what, ctr, "prescale")
		c.podSecurity(what, spec)
		if cj.Spec.Schedule != "*/5 * * * *" || cj.Spec.ConcurrencyPolicy != "Forbid" {
			c.errorf("%s: schedule %q, concurrencyPolicy %q; want every 5 minutes, Forbid", what, cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
		}
		if cj.Spec.JobTemplate.Spec.Template.Labels[partOfLabel] != "qredge" {
			c.errorf("%s: pods lack %s: qredge (the Redis NetworkPolicy admits only those)", what, partOfLabel)
		}
		c.rbac(what, cj.Namespace, spec.ServiceAccountName)
	}
	for h, used := range edgeHPAs {
		if !used {
			c.errorf("HPA %s: no prescale CronJob raises it before drops", h)
		}
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var r []V
	for _, v := range m {
		r = append(r, v)
	}
	return r
}

// rbac checks that the service account may get and patch HPAs in its
// namespace (all qredge prescale does), and nothing more.
func (c *checker) rbac(what, namespace, sa string) {
	if !slices.ContainsFunc(c.o.ServiceAccounts, func(s *corev1.ServiceAccount) bool { return s.Name == sa }) {
		c.errorf("%s: service account %q does not exist", what, sa)
		return
	}
	need := map[string]bool{
		"autoscaling/horizontalpodautoscalers/get":   false,
		"autoscaling/horizontalpodautoscalers/patch": false,
	}
	for _, rb := range c.o.RoleBindings {
		if !slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == namespace
		}) || rb.RoleRef.Kind != "Role" {
			continue
		}
		for _, r := range c.o.Roles {
			if r.Name != rb.RoleRef.Name {
				continue
			}
			for _, rule := range r.Rules {
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, v := range rule.Verbs {
							if _, ok := need[g+"/"+res+"/"+v]; ok {
								need[g+"/"+res+"/"+v] = true
							} else {
								c.errorf("%s: Role %s grants %s/%s/%s, which qredge prescale does not need", what, r.Name, g, res, v)
							}
						}
					}
				}
			}
		}
	}
	for k, ok := range need {
		if !ok {
			c.errorf("%s: service account %s may not %s", what, sa, k)
		}
	}
}

// regions checks the multi-region layout: per region, an edge Deployment
// pinned to the region's nodes, with its own HPA, PDB, Service,
// NetworkPolicy and prescale CronJob. nil: one edge Deployment, unpinned.
func (c *checker) regions(regions []string) {
	names := []string{"qredge-edge"}
	if regions != nil {
		names = nil
		for _, r := range regions {
			names = append(names, "qredge-edge-"+r)
		}
	}
	var edges []string
	for _, d := range c.o.Deployments {
		if command(&d.Spec.Template.Spec) == "edge" {
			edges = append(edges, d.Name)
		}
	}
	slices.Sort(edges)
	if !slices.Equal(edges, names) {
		c.errorf("edge Deployments %v, want %v", edges, names)
	}
	for i, name := range names {
		d := c.deploymentNamed(name)
		if d == nil {
			continue
		}
		var pinned []string
		if a := d.Spec.Template.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
				for _, e := range term.MatchExpressions {
					if e.Key == regionKey && e.Operator == corev1.NodeSelectorOpIn {
						pinned = append(pinned, e.Values...)
					}
				}
			}
		}
		var want []string
		if regions != nil {
			want = []string{regions[i]}
		}
		if !slices.Equal(pinned, want) {
			c.errorf("Deployment %s: pinned to regions %v, want %v", name, pinned, want)
		}
	}
}
