package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	yaml3 "gopkg.in/yaml.v3"
)

const composeFile = "compose/docker-compose.yml"

// Files the compose stack mounts that another part of deploy/ provides. A
// missing one is logged, not failed, while it is being written.
var composeForeignFiles = []string{"../prometheus/prometheus.yml", "../prometheus/alerts.yml", "../grafana/qredge.json"}

// compose is the part of the Compose specification the stack uses. It is
// decoded with KnownFields: a key outside it (a misspelling Compose itself
// would ignore or refuse only when run) fails the test.
type compose struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]struct{}       `yaml:"volumes"`
	// Extension fields (x-...), used as YAML anchors.
	Extensions map[string]yaml3.Node `yaml:",inline"`
}

type composeService struct {
	Image           string                      `yaml:"image"`
	Build           *composeBuild               `yaml:"build"`
	Entrypoint      []string                    `yaml:"entrypoint"`
	Command         []string                    `yaml:"command"`
	Environment     map[string]string           `yaml:"environment"`
	Ports           []string                    `yaml:"ports"`
	Volumes         []string                    `yaml:"volumes"`
	DependsOn       map[string]composeDependsOn `yaml:"depends_on"`
	Healthcheck     *composeHealthcheck         `yaml:"healthcheck"`
	Restart         string                      `yaml:"restart"`
	ReadOnly        bool                        `yaml:"read_only"`
	CapDrop         []string                    `yaml:"cap_drop"`
	SecurityOpt     []string                    `yaml:"security_opt"`
	StopGracePeriod string                      `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeDependsOn struct {
	Condition string `yaml:"condition"`
}

type composeHealthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	Retries     int      `yaml:"retries"`
	StartPeriod string   `yaml:"start_period"`
}

func decodeCompose(b []byte) (*compose, error) {
	dec := yaml3.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c compose
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	for k := range c.Extensions {
		if !strings.HasPrefix(k, "x-") {
			return nil, fmt.Errorf("unknown top-level key %q", k)
		}
	}
	return &c, nil
}

func readCompose(tb testing.TB) *compose {
	tb.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := decodeCompose(b)
	if err != nil {
		tb.Fatalf("%s: %v", composeFile, err)
	}
	return c
}

// qredgeServices returns the services built from the repository's
// Dockerfile, by name.
func (c *compose) qredgeServices() map[string]composeService {
	r := map[string]composeService{}
	for name, s := range c.Services {
		if s.Build != nil {
			r[name] = s
		}
	}
	return r
}

// clusterEnv returns the names of the ConfigMap's and the Secret's
// variables: what every qredge container gets in Kubernetes.
func clusterEnv(tb testing.TB) map[string]bool {
	tb.Helper()
	names := map[string]bool{}
	o := render(tb, overlays[0].dir)
	for k := range (&checker{tb: tb, o: o}).configMap().Data {
		names[k] = true
	}
	for k := range readEnvFile(tb, "kubernetes/base/core/secrets.env.example") {
		names[k] = true
	}
	return names
}

// TestComposeQredgeServices: the qredge services run the image of the
// repository's Dockerfile, with real variables, the same as the cluster's,
// on the commands' default ports.
func TestComposeQredgeServices(t *testing.T) {
	c := readCompose(t)
	qs := c.qredgeServices()
	var names []string
	for n := range qs {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"analytics", "api", "edge-1", "edge-2", "webhooks"}; !slices.Equal(names, want) {
		t.Errorf("services built from the Dockerfile: %v, want %v", names, want)
	}
	cluster := clusterEnv(t)

	// The shared block is the ConfigMap and the Secret, name for name.
	var shared map[string]string
	if n, ok := c.Extensions["x-qredge-env"]; !ok {
		t.Error("no x-qredge-env (the ConfigMap and Secret of the stack)")
	} else if err := n.Decode(&shared); err != nil {
		t.Errorf("x-qredge-env: %v", err)
	}
	var sharedNames, clusterNames []string
	for k := range shared {
		sharedNames = append(sharedNames, k)
	}
	for k := range cluster {
		clusterNames = append(clusterNames, k)
	}
	slices.Sort(sharedNames)
	slices.Sort(clusterNames)
	if !slices.Equal(sharedNames, clusterNames) {
		t.Errorf("x-qredge-env has %v, the ConfigMap and Secret %v: keep them the same", sharedNames, clusterNames)
	}

	images := map[string]bool{}
	nodeIDs := map[string]string{}
	groups := map[string]string{} // Kafka group -> service
	for _, name := range names {
		s := qs[name]
		what := "service " + name
		images[s.Image] = true
		if filepath.Clean(filepath.Join("compose", s.Build.Context)) != ".." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: builds %s/%s, want the repository root's Dockerfile (../..)", what, s.Build.Context, s.Build.Dockerfile)
		}
		for _, a := range []string{"VERSION", "COMMIT"} {
			if _, ok := s.Build.Args[a]; !ok {
				t.Errorf("%s: no build arg %s", what, a)
			}
		}
		if len(s.Command) == 0 {
			t.Errorf("%s: no command", what)
			continue
		}
		cmd := s.Command[0]
		flags := mustFlags(t, cmd)
		for k := range s.Environment {
			_, own := flags[k]
			switch {
			case !strings.HasPrefix(k, "QREDGE_"):
				t.Errorf("%s: %s is not a qredge variable", what, k)
			case !own && !cluster[k]:
				t.Errorf("%s: %s is not a flag of qredge %s (nor shared config)", what, k, cmd)
			}
		}
		// Configured along the same axes as in the cluster.
		for k := range cluster {
			if _, own := flags[k]; own {
				if _, ok := s.Environment[k]; !ok {
					t.Errorf("%s: lacks %s, which qredge %s gets in Kubernetes", what, k, cmd)
				}
			}
		}
		// Each consumer of the topic in a group of its own: two commands
		// in one group would split the partitions and miss events.
		if _, ok := flags["QREDGE_KAFKA_GROUP"]; ok {
			g, set := s.Environment["QREDGE_KAFKA_GROUP"]
			if !set {
				g = flags["QREDGE_KAFKA_GROUP"].Default
			}
			if other, dup := groups[g]; dup && qs[other].Command[0] != cmd {
				t.Errorf("%s: Kafka group %s is also %s's (qredge %s)", what, g, other, qs[other].Command[0])
			}
			groups[g] = name
		}
		if id, ok := s.Environment["QREDGE_NODE_ID"]; ok {
			if other, dup := nodeIDs[id]; dup {
				t.Errorf("%s and %s have QREDGE_NODE_ID %s", name, other, id)
			}
			nodeIDs[id] = name
		}
		if dir, ok := s.Environment["QREDGE_SPOOL_DIR"]; ok && !c.onVolume(s, dir) {
			t.Errorf("%s: QREDGE_SPOOL_DIR %s is not on a volume (the root is read-only)", what, dir)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: want read_only and cap_drop ALL, as in Kubernetes", what)
		}
		// Published ports map to the command's listeners.
		want := []int{defaultPort(t, cmd, "QREDGE_ADMIN_LISTEN")}
		if _, ok := flags["QREDGE_LISTEN"]; ok {
			want = append(want, defaultPort(t, cmd, "QREDGE_LISTEN"))
		}
		var got []int
		for _, p := range s.Ports {
			got = append(got, containerPort(t, p))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: container ports %v, want %v (qredge %s's listeners)", what, got, want, cmd)
		}
	}
	if len(images) != 1 {
		t.Errorf("the qredge services tag %d images %v, want one", len(images), images)
	}

	// The addresses in the shared variables are services of the stack.
	for _, k := range []string{"QREDGE_REDIS", "QREDGE_KAFKA"} {
		for _, addr := range strings.Split(shared[k], ",") {
			host, _, err := net.SplitHostPort(addr)
			if _, ok := c.Services[host]; err != nil || !ok {
				t.Errorf("x-qredge-env %s=%s: %q is no service", k, shared[k], host)
			}
		}
	}
	// kafka-init creates the topic the services use.
	if init, ok := c.Services["kafka-init"]; !ok {
		t.Error("no kafka-init service creating the topic")
	} else if i := slices.Index(init.Command, "--topic"); i < 0 || init.Command[i+1] != shared["QREDGE_KAFKA_TOPIC"] {
		t.Errorf("kafka-init creates %v, want topic %s", init.Command, shared["QREDGE_KAFKA_TOPIC"])
	}
}

// containerPort returns the container side of a "host:port:container" or
// "port:container" mapping.
func containerPort(tb testing.TB, p string) int {
	tb.Helper()
	i := strings.LastIndex(p, ":")
	n, err := strconv.Atoi(strings.TrimSuffix(p[i+1:], "/tcp"))
	if err != nil {
		tb.Fatalf("port %q: %v", p, err)
	}
	return n
}

// onVolume reports whether a path is on one of the service's mounts.
func (c *compose) onVolume(s composeService, path string) bool {
	for _, v := range s.Volumes {
		f := strings.Split(v, ":")
		if len(f) >= 2 && (path == f[1] || strings.HasPrefix(path, strings.TrimSuffix(f[1], "/")+"/")) {
			return true
		}
	}
	return false
}

// TestComposeMounts: bind-mounted files exist (Docker would create a
// missing one as an empty directory), named volumes are declared, and the
// published ports are distinct and on loopback.
func TestComposeMounts(t *testing.T) {
	c := readCompose(t)
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			f := strings.Split(v, ":")
			if len(f) < 2 || len(f) > 3 || len(f) == 3 && f[2] != "ro" && f[2] != "rw" {
				t.Errorf("service %s: volume %q, want SOURCE:TARGET[:ro]", name, v)
				continue
			}
			src := f[0]
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s: volume %s is not declared under volumes", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
				if slices.Contains(composeForeignFiles, src) {
					t.Logf("service %s: %s is not there yet (deploy/prometheus and deploy/grafana provide it)", name, src)
					continue
				}
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
		for _, p := range s.Ports {
			f := strings.Split(p, ":")
			if len(f) != 3 || f[0] != "127.0.0.1" {
				t.Errorf("service %s: port %q, want 127.0.0.1:HOST:CONTAINER", name, p)
				continue
			}
			if other, dup := hostPorts[f[1]]; dup {
				t.Errorf("services %s and %s both publish host port %s", name, other, f[1])
			}
			hostPorts[f[1]] = name
		}
	}
}

// TestComposeDependencies: depends_on names services, waits for health
// only on services that have a healthcheck and for completion only on
// one-shot services, and has no cycle. qredge services have no healthcheck
// (no shell or HTTP client in the image) and wait for Redis and, when they
// use it, the Kafka topic.
func TestComposeDependencies(t *testing.T) {
	c := readCompose(t)
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				t.Errorf("service %s waits for %s to complete, which is not one-shot (restart: \"no\")", name, dep)
			case !slices.Contains([]string{"service_started", "service_healthy", "service_completed_successfully"}, d.Condition):
				t.Errorf("service %s: depends_on %s condition %q", name, dep, d.Condition)
			}
		}
		if hc := s.Healthcheck; hc != nil {
			if len(hc.Test) < 2 || hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" {
				t.Errorf("service %s: healthcheck test %q", name, hc.Test)
			}
			if hc.Retries < 1 || hc.Interval == "" || hc.Timeout == "" {
				t.Errorf("service %s: healthcheck without interval, timeout or retries", name)
			}
		}
	}
	for name, s := range c.qredgeServices() {
		if s.Healthcheck != nil {
			t.Errorf("service %s: a healthcheck needs a shell or HTTP client the image does not have", name)
		}
		if s.DependsOn["redis"].Condition != "service_healthy" {
			t.Errorf("service %s: does not wait for a healthy redis", name)
		}
		if len(s.Command) > 0 && slices.Contains([]string{"edge", "analytics", "webhooks"}, s.Command[0]) && s.DependsOn["kafka-init"].Condition != "service_completed_successfully" {
			t.Errorf("service %s: does not wait for kafka-init to create the topic", name)
		}
	}
	// No cycle.
	state := map[string]int{}
	var visit func(string, []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("depends_on cycle: %v", append(path, n))
			return
		case 2:
			return
		}
		state[n] = 1
		for dep := range c.Services[n].DependsOn {
			visit(dep, append(path, n))
		}
		state[n] = 2
	}
	for n := range c.Services {
		visit(n, nil)
	}
}

// TestComposeMonitoring: Prometheus and Grafana are wired to each other
// and to the qredge services: the config file is where --config.file
// says, it scrapes every qredge service on its admin port, the data source
// points at the prometheus service, and the dashboard provider reads the
// directory the dashboard is mounted into.
func TestComposeMonitoring(t *testing.T) {
	c := readCompose(t)
	prom, ok := c.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	mounts := map[string]string{} // target -> source
	for _, v := range prom.Volumes {
		f := strings.Split(v, ":")
		mounts[f[1]] = f[0]
	}
	var config string
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			config = v
		}
	}
	src, ok := mounts[config]
	if !ok {
		t.Fatalf("prometheus: --config.file=%s is not mounted", config)
	}
	if b, err := os.ReadFile(filepath.Join("compose", src)); err != nil {
		t.Logf("prometheus: %s is not there yet (%v); its targets are not checked", src, err)
	} else {
		var pc struct {
			RuleFiles     []string `yaml:"rule_files"`
			ScrapeConfigs []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"scrape_configs"`
		}
		if err := yaml3.Unmarshal(b, &pc); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		for _, r := range pc.RuleFiles {
			if _, ok := mounts[r]; !ok {
				t.Errorf("prometheus: rule file %s is not mounted", r)
			}
		}
		targets := map[string]bool{}
		for _, sc := range pc.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for _, tg := range st.Targets {
					targets[tg] = true
				}
			}
		}
		for name, s := range c.qredgeServices() {
			tg := net.JoinHostPort(name, strconv.Itoa(defaultPort(t, s.Command[0], "QREDGE_ADMIN_LISTEN")))
			if !targets[tg] {
				t.Errorf("%s does not scrape %s (service %s's admin listener)", src, tg, name)
			}
		}
	}

	graf, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	var provisioning, dashboard string
	for _, v := range graf.Volumes {
		f := strings.Split(v, ":")
		switch {
		case f[1] == "/etc/grafana/provisioning":
			provisioning = f[0]
		case strings.HasSuffix(f[0], ".json"):
			dashboard = f[1]
		}
	}
	if provisioning == "" || dashboard == "" {
		t.Fatalf("grafana: want the provisioning directory and a dashboard mounted, have %v", graf.Volumes)
	}
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string `yaml:"name"`
			UID       string `yaml:"uid"`
			Type      string `yaml:"type"`
			Access    string `yaml:"access"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
			Editable  bool   `yaml:"editable"`
		} `yaml:"datasources"`
	}
	strictYAML(t, filepath.Join("compose", provisioning, "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || !ds.Datasources[0].IsDefault {
		t.Fatalf("grafana data sources %+v, want one default prometheus", ds.Datasources)
	}
	promPort := strings.Split(prom.Ports[0], ":")[2]
	if want := "http://prometheus:" + promPort; ds.Datasources[0].URL != want {
		t.Errorf("grafana data source URL %s, want %s", ds.Datasources[0].URL, want)
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name            string `yaml:"name"`
			Folder          string `yaml:"folder"`
			Type            string `yaml:"type"`
			DisableDeletion bool   `yaml:"disableDeletion"`
			AllowUIUpdates  bool   `yaml:"allowUiUpdates"`
			Options         struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	strictYAML(t, filepath.Join("compose", provisioning, "dashboards", "qredge.yml"), &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path != filepath.Dir(dashboard) {
		t.Errorf("grafana dashboard providers %+v, want one reading %s", dp.Providers, filepath.Dir(dashboard))
	}
}

func strictYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := yaml3.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// TestComposeStrict: the compose decoding refuses a misspelled key.
func TestComposeStrict(t *testing.T) {
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCompose(b); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{
		{"    depends_on:\n      redis:", "    depend_on:\n      redis:"},
		{"  restart: unless-stopped\n", "  restrat: unless-stopped\n"},
		{"\nvolumes:\n", "\nvolumez:\n"},
	} {
		if !bytes.Contains(b, []byte(bad[0])) {
			t.Fatalf("%s has no %q", composeFile, bad[0])
		}
		if _, err := decodeCompose(bytes.Replace(b, []byte(bad[0]), []byte(bad[1]), 1)); err == nil {
			t.Errorf("%q decoded without error", bad[1])
		}
	}
}
