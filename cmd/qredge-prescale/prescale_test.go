package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/qredge/qredge/internal/prescale"
	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/boltstore"
)

func testHPA(name string, min, max int32, ann map[string]string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "qredge", Name: name, Annotations: ann, ResourceVersion: "1"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: name, APIVersion: "apps/v1"},
			MinReplicas:    &min,
			MaxReplicas:    max,
		},
	}
}

func mustGetHPA(t testing.TB, c *fake.Clientset, name string) prescale.State {
	t.Helper()
	h, err := c.AutoscalingV2().HorizontalPodAutoscalers("qredge").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prescale.StateOf(hpaOf(h))
}

// fakeAPI serves the fake clientset's HPAs over HTTP the way the
// Kubernetes API does (objects as JSON, errors as a Status), and returns
// prescale's own REST client for it, so the tests cover that client too.
func fakeAPI(t testing.TB, c *fake.Clientset) prescale.HPAClient {
	t.Helper()
	const prefix = "/apis/autoscaling/v2/namespaces/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/horizontalpodautoscalers/")
		if !strings.HasPrefix(r.URL.Path, prefix) || ns == "" || rest == "" {
			http.NotFound(w, r)
			return
		}
		hpas := c.AutoscalingV2().HorizontalPodAutoscalers(ns)
		var obj any
		var err error
		switch {
		case r.Method == http.MethodGet:
			obj, err = hpas.Get(r.Context(), rest, metav1.GetOptions{})
		case r.Method == http.MethodPatch && r.Header.Get("Content-Type") == "application/merge-patch+json":
			body, _ := io.ReadAll(r.Body)
			obj, err = hpas.Patch(r.Context(), rest, types.MergePatchType, body, metav1.PatchOptions{FieldManager: r.URL.Query().Get("fieldManager")})
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.Header.Get("Content-Type"), http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		var se apierrors.APIStatus
		if errors.As(err, &se) {
			st := se.Status()
			st.Kind, st.APIVersion = "Status", "v1"
			w.WriteHeader(int(st.Code))
			obj = st
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(obj)
	}))
	t.Cleanup(srv.Close)
	api, err := newRESTHPA(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// patches counts the patch calls the fake clientset received.
func patches(c *fake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

func TestPrescaleHPAFake(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 11, 40, 0, 0, time.UTC)
	drops := []prescale.Drop{{Code: "spring24", At: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}}
	on := prescale.WindowAt(drops, now, 30*time.Minute, 2*time.Hour)
	off := prescale.WindowAt(drops, now.Add(3*time.Hour), 30*time.Minute, 2*time.Hour)
	run := func(c *fake.Clientset, name string, w prescale.Window, apply bool) (prescale.Change, error) {
		t.Helper()
		return prescale.ReconcileHPA(ctx, fakeAPI(t, c), "qredge", name, 20, w, apply)
	}

	t.Run("raise, keep, restore", func(t *testing.T) {
		c := fake.NewClientset(testHPA("edge", 3, 50, map[string]string{"team": "edge"}))
		ch, err := run(c, "edge", on, true)
		if err != nil {
			t.Fatal(err)
		}
		want := prescale.State{Min: 20, Max: 50, NormalMin: "3", Until: "2026-11-27T14:00:00Z"}
		if got := mustGetHPA(t, c, "edge"); got != want {
			t.Fatalf("after raise %+v, want %+v", got, want)
		}
		if line := ch.Describe(on, true); line != "hpa qredge/edge: minReplicas 3 -> 20 (drop spring24 at 2026-11-27T12:00:00Z; held until 14:00:00Z)" {
			t.Fatalf("line %q", line)
		}
		// Again: nothing to do, no patch.
		n := patches(c)
		ch, err = run(c, "edge", on, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got != want || patches(c) != n {
			t.Fatalf("second run changed %+v (patches %d -> %d)", got, n, patches(c))
		}
		if line := ch.Describe(on, true); !strings.HasPrefix(line, "hpa qredge/edge: minReplicas 20 unchanged (drop spring24") {
			t.Fatalf("line %q", line)
		}
		// After the hold: restored, annotations gone, other annotations kept.
		ch, err = run(c, "edge", off, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got != (prescale.State{Min: 3, Max: 50}) {
			t.Fatalf("after restore %+v", got)
		}
		if line := ch.Describe(off, true); line != "hpa qredge/edge: minReplicas restored 20 -> 3 (no drop in the next 30m or the last 2h)" {
			t.Fatalf("line %q", line)
		}
		h, _ := c.AutoscalingV2().HorizontalPodAutoscalers("qredge").Get(ctx, "edge", metav1.GetOptions{})
		if h.Annotations["team"] != "edge" || len(h.Annotations) != 1 {
			t.Fatalf("annotations %v", h.Annotations)
		}
		// And again: untouched.
		n = patches(c)
		if _, err := run(c, "edge", off, true); err != nil || patches(c) != n {
			t.Fatalf("restored HPA patched again (%v)", err)
		}
	})

	t.Run("higher floor kept", func(t *testing.T) {
		c := fake.NewClientset(testHPA("edge", 30, 50, nil))
		if _, err := run(c, "edge", on, true); err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got != (prescale.State{Min: 30, Max: 50}) || patches(c) != 0 {
			t.Fatalf("got %+v after %d patches", got, patches(c))
		}
		// Raised by hand above our floor during a hold: kept, then restored.
		c = fake.NewClientset(testHPA("edge", 40, 50, map[string]string{prescale.NormalMinAnnotation: "3", prescale.UntilAnnotation: "2026-11-27T13:00:00Z"}))
		if _, err := run(c, "edge", on, true); err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got != (prescale.State{Min: 40, Max: 50, NormalMin: "3", Until: "2026-11-27T14:00:00Z"}) {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		c := fake.NewClientset(testHPA("edge", 3, 50, nil))
		ch, err := run(c, "edge", on, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got != (prescale.State{Min: 3, Max: 50}) || patches(c) != 0 {
			t.Fatalf("dry run changed the HPA: %+v", got)
		}
		if line := ch.Describe(on, false); !strings.HasPrefix(line, "hpa qredge/edge: would set minReplicas 3 -> 20 (") {
			t.Fatalf("line %q", line)
		}
	})

	t.Run("errors", func(t *testing.T) {
		c := fake.NewClientset(testHPA("edge", 3, 10, nil))
		_, err := run(c, "edge", on, true)
		if err == nil || !strings.Contains(err.Error(), "hpa qredge/edge: maxReplicas 10 is below --replicas 20") {
			t.Fatalf("max below floor: %v", err)
		}
		if got := mustGetHPA(t, c, "edge"); got != (prescale.State{Min: 3, Max: 10}) {
			t.Fatalf("got %+v", got)
		}
		if _, err := run(c, "missing", on, true); !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `hpa qredge/missing: `) {
			t.Fatalf("missing HPA: %v", err)
		}
		c.PrependReactor("get", "horizontalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "edge",
				errors.New(`User "system:serviceaccount:qredge:default" cannot get resource "horizontalpodautoscalers"`))
		})
		_, err = run(c, "edge", on, true)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot get resource") || !strings.Contains(err.Error(), "docs/prescale.md") {
			t.Fatalf("forbidden: %v", err)
		}
	})

	t.Run("conflict retried", func(t *testing.T) {
		c := fake.NewClientset(testHPA("edge", 3, 50, nil))
		conflicts := 1
		c.PrependReactor("patch", "horizontalpodautoscalers", func(k8stesting.Action) (bool, runtime.Object, error) {
			if conflicts > 0 {
				conflicts--
				return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "edge", errors.New("modified"))
			}
			return false, nil, nil
		})
		if _, err := run(c, "edge", on, true); err != nil {
			t.Fatal(err)
		}
		if got := mustGetHPA(t, c, "edge"); got.Min != 20 || patches(c) != 2 {
			t.Fatalf("got %+v after %d patches", got, patches(c))
		}
	})
}

// runPrescaleCmd runs qredge-prescale with the fake clientset c and
// returns the exit code, stdout and stderr.
func runPrescaleCmd(t *testing.T, c *fake.Clientset, args ...string) (int, string, string) {
	t.Helper()
	orig := newHPAClient
	api := fakeAPI(t, c)
	newHPAClient = func(string) (prescale.HPAClient, error) { return api, nil }
	defer func() { newHPAClient = orig }()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestPrescaleDataDir(t *testing.T) {
	dir := t.TempDir()
	// at is a time on 2026-11-DAY, UTC.
	at := func(day, hour, min int) *time.Time {
		v := time.Date(2026, 11, day, hour, min, 0, 0, time.UTC)
		return &v
	}
	mustSeedDataDir(t, dir, []*store.Link{
		{Code: "plain", Destination: "https://example.com/"},
		{Code: "spring24", Destination: "https://example.com/spring", Schedule: &store.Schedule{NotBefore: at(27, 12, 0)}},
		{Code: "tv", Domain: "go.example.com", Destination: "https://example.com/tv", Schedule: &store.Schedule{NotBefore: at(28, 9, 0)}},
		{Code: "off", Destination: "https://example.com/off", Disabled: true, Schedule: &store.Schedule{NotBefore: at(27, 11, 50)}},
		{Code: "ends", Destination: "https://example.com/ends", Schedule: &store.Schedule{NotAfter: at(27, 12, 0)}},
	})
	c := fake.NewClientset(testHPA("qredge-edge", 3, 50, nil), testHPA("qredge-edge-eu", 5, 50, nil))
	args := func(now string, extra ...string) []string {
		return append([]string{"--data-dir", dir, "--namespace", "qredge", "--hpa", "qredge-edge, qredge-edge-eu",
			"--replicas", "20", "--now", now}, extra...)
	}

	// Dry run 20 minutes before the drop.
	code, out, stderr := runPrescaleCmd(t, c, args("2026-11-27T11:40:00Z")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"now 2026-11-27T11:40:00Z; drops live in the last 2h or due in the next 24h:\n",
		"CODE      DOMAIN          NOT_BEFORE            WHEN       PRESCALE\n",
		"spring24  -               2026-11-27T12:00:00Z  in 20m     yes\n",
		"tv        go.example.com  2026-11-28T09:00:00Z  in 21h20m  no\n",
		"hpa qredge/qredge-edge: would set minReplicas 3 -> 20 (drop spring24 at 2026-11-27T12:00:00Z; held until 14:00:00Z)\n",
		"hpa qredge/qredge-edge-eu: would set minReplicas 5 -> 20 (",
		"dry run: nothing changed",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "off") || strings.Contains(out, "ends") || patches(c) != 0 {
		t.Fatalf("dry run output or patches wrong (%d):\n%s", patches(c), out)
	}

	// Applied, twice: the second run converges to no change.
	for i, want := range []string{"minReplicas 3 -> 20", "minReplicas 20 unchanged"} {
		code, out, stderr = runPrescaleCmd(t, c, args("2026-11-27T11:40:00Z", "--apply")...)
		if code != 0 || !strings.Contains(out, "hpa qredge/qredge-edge: "+want+" (") {
			t.Fatalf("run %d: exit %d, want %q:\n%s%s", i, code, want, out, stderr)
		}
	}
	if got := mustGetHPA(t, c, "qredge-edge-eu"); got != (prescale.State{Min: 20, Max: 50, NormalMin: "5", Until: "2026-11-27T14:00:00Z"}) {
		t.Fatalf("eu %+v", got)
	}

	// One second after the hold: restored.
	code, out, stderr = runPrescaleCmd(t, c, args("2026-11-27T14:00:01Z", "--apply")...)
	if code != 0 || !strings.Contains(out, "hpa qredge/qredge-edge: minReplicas restored 20 -> 3 (no drop") ||
		!strings.Contains(out, "hpa qredge/qredge-edge-eu: minReplicas restored 20 -> 5 (") {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
	if got := mustGetHPA(t, c, "qredge-edge"); got != (prescale.State{Min: 3, Max: 50}) {
		t.Fatalf("after restore %+v", got)
	}

	// A missing HPA fails the run, after the others were handled.
	code, out, stderr = runPrescaleCmd(t, c, append(args("2026-11-27T11:40:00Z", "--apply"), "--hpa", "nope,qredge-edge")...)
	if code != 1 || !strings.Contains(stderr, `hpa qredge/nope: horizontalpodautoscalers.autoscaling "nope" not found`) ||
		!strings.Contains(out, "hpa qredge/qredge-edge: minReplicas 3 -> 20") {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
}

func TestPrescaleCLIErrors(t *testing.T) {
	dir := t.TempDir()
	c := fake.NewClientset()
	f := func(wantCode int, wantErr string, args ...string) {
		t.Helper()
		code, _, stderr := runPrescaleCmd(t, c, args...)
		if code != wantCode || !strings.Contains(stderr, wantErr) {
			t.Fatalf("%v: exit %d, stderr %q; want %d and %q", args, code, stderr, wantCode, wantErr)
		}
	}
	f(1, "--replicas is required", "--data-dir", dir)
	f(1, "give exactly one of --redis ADDR and --data-dir DIR", "--replicas", "3")
	f(1, "give exactly one of --redis ADDR and --data-dir DIR", "--replicas", "3", "--data-dir", dir, "--redis", "127.0.0.1:1")
	f(1, "holds no qredge store", "--replicas", "3", "--data-dir", filepath.Join(dir, "typo"))
	f(1, "--now", "--replicas", "3", "--data-dir", dir, "--now", "tomorrow")
	f(1, "--hpa", "--replicas", "3", "--data-dir", dir, "--hpa", "a,,b")
	f(1, "--lead-time must not be negative", "--replicas", "3", "--data-dir", dir, "--lead-time", "-1m")
	f(2, "invalid value", "--replicas", "many")
	f(1, "cannot reach Redis", "--replicas", "3", "--redis", "127.0.0.1:1")

	code, _, stderr := runPrescaleCmd(t, c, "--help")
	if code != 0 || !strings.Contains(stderr, "--lead-time  [QREDGE_LEAD_TIME]") || strings.Contains(stderr, "--now") {
		t.Fatalf("help: exit %d\n%s", code, stderr)
	}
}

func TestPrescaleDefaults(t *testing.T) {
	nsFile := filepath.Join(t.TempDir(), "namespace")
	orig := inClusterNamespaceFile
	inClusterNamespaceFile = nsFile
	defer func() { inClusterNamespaceFile = orig }()

	if got := DefaultConfig().Namespace; got != "default" {
		t.Fatalf("namespace %q outside a cluster", got)
	}
	if err := os.WriteFile(nsFile, []byte("qredge-prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if d.Namespace != "qredge-prod" || d.HPA != "qredge-edge" || d.LeadTime != 30*time.Minute || d.Hold != 2*time.Hour || d.Window != 24*time.Hour {
		t.Fatalf("defaults %+v", d)
	}

	// QREDGE_ variables fill what the command line leaves out.
	dir := t.TempDir()
	mustSeedDataDir(t, dir, nil)
	c := fake.NewClientset(testHPA("edge-x", 3, 50, nil))
	t.Setenv("QREDGE_NAMESPACE", "qredge")
	t.Setenv("QREDGE_HPA", "edge-x")
	t.Setenv("QREDGE_REPLICAS", "4")
	t.Setenv("QREDGE_DATA_DIR", dir)
	t.Setenv("QREDGE_REDIS", "127.0.0.1:1") // the command line's --data-dir wins
	code, out, stderr := runPrescaleCmd(t, c, "--data-dir", dir, "--now", "2026-11-27T11:40:00Z")
	if code != 0 || !strings.Contains(out, "hpa qredge/edge-x: minReplicas 3 unchanged (no drop in the next 30m or the last 2h)") {
		t.Fatalf("exit %d:\n%s%s", code, out, stderr)
	}
}

// mustSeedDataDir creates links, in one transaction, in the data
// directory dir.
func mustSeedDataDir(t testing.TB, dir string, links []*store.Link) {
	t.Helper()
	db, err := boltstore.Open(dir)
	if err == nil {
		_, errs, bulkErr := db.CreateLinks(context.Background(), links, true)
		err = errors.Join(bulkErr, errors.Join(errs...), db.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
}
