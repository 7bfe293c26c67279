package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The version and commit TestMain builds the binary with, through make build.
const (
	testVersion = "v0.0.0-deploytest"
	testCommit  = "c0ffee1"
)

// The qredge commands the deployment files run. prescale is written in
// parallel with these files: until it exists, its flags are not checked.
var qredgeCommands = []string{"serve", "edge", "api", "analytics", "webhooks", "prescale"}

var (
	// repoRoot is the qredge repository (the main module), the parent of
	// the deploy module.
	repoRoot string
	// tmpDir lives as long as the test binary.
	tmpDir string
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	repoRoot = filepath.Dir(wd)
	if tmpDir, err = os.MkdirTemp("", "qredge-deploy-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// builtBinaries are what make build writes into bin/: qredge, and
// qredge-prescale, which 'qredge prescale' runs from beside it.
var builtBinaries = []string{"qredge", "qredge-prescale"}

// qredgeBinary returns a qredge binary built by `make build
// VERSION=testVersion COMMIT=testCommit` in the repository root: the
// command the Dockerfile runs, with the other builtBinaries beside it.
// make writes bin/qredge and the others; what was in bin/ before is put
// back afterwards, and the test keeps a copy.
func qredgeBinary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() { build.bin, build.err = makeBuild() })
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.bin
}

func makeBuild() (string, error) {
	for _, name := range builtBinaries {
		out := filepath.Join(repoRoot, "bin", name)
		backup := out + ".before-deploy-test"
		had := false
		if _, err := os.Stat(out); err == nil {
			if err := os.Rename(out, backup); err != nil {
				return "", err
			}
			had = true
		}
		defer func() {
			if had {
				os.Rename(backup, out)
			} else {
				os.Remove(out)
			}
		}()
	}
	cmd := makeCommand("build", "VERSION="+testVersion, "COMMIT="+testCommit)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build: %v\n%s", err, b)
	}
	for _, name := range builtBinaries {
		b, err := os.ReadFile(filepath.Join(repoRoot, "bin", name))
		if err != nil {
			return "", fmt.Errorf("make build did not write bin/%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(tmpDir, name), b, 0o755); err != nil {
			return "", err
		}
	}
	return filepath.Join(tmpDir, "qredge"), nil
}

// makeCommand runs make in the repository root, without the variables
// of a make that runs this test (make test): its flags, such as -n or
// VERSION=..., must not reach this one.
func makeCommand(args ...string) *exec.Cmd {
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", repoRoot}, args...)...)
	for _, e := range os.Environ() {
		if k, _, _ := strings.Cut(e, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" && k != "MAKEOVERRIDES" {
			cmd.Env = append(cmd.Env, e)
		}
	}
	return cmd
}

// flag is one flag of a qredge command, as its --help shows it.
type flag struct {
	Name, Env, Default string
}

var helpCache struct {
	sync.Mutex
	m map[string]map[string]flag
}

// commandFlags returns the flags of `qredge <command> --help` by
// environment variable name, or nil if the binary has no such command.
func commandFlags(tb testing.TB, command string) map[string]flag {
	tb.Helper()
	helpCache.Lock()
	defer helpCache.Unlock()
	if f, ok := helpCache.m[command]; ok {
		return f
	}
	out, _ := exec.Command(qredgeBinary(tb), command, "--help").CombinedOutput()
	flags := parseHelp(out)
	if len(flags) == 0 {
		flags = nil
	}
	if helpCache.m == nil {
		helpCache.m = map[string]map[string]flag{}
	}
	helpCache.m[command] = flags
	return flags
}

// helpLine is a flag's line in --help: "  --name  [QREDGE_NAME] (default "v")".
var helpLine = regexp.MustCompile(`^  --([a-z0-9-]+)  \[(QREDGE_[A-Z0-9_]+)\](?: \(default "(.*)"\))?$`)

func parseHelp(out []byte) map[string]flag {
	flags := map[string]flag{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := helpLine.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[2]] = flag{Name: m[1], Env: m[2], Default: m[3]}
		}
	}
	return flags
}

func TestParseHelp(t *testing.T) {
	got := parseHelp([]byte("Usage: qredge edge\n\nFlags (each can also be set by the environment variable shown):\n" +
		"  --admin-listen  [QREDGE_ADMIN_LISTEN] (default \":9090\")\n      address\n" +
		"  --redis  [QREDGE_REDIS]\n      Redis\n"))
	want := map[string]flag{
		"QREDGE_ADMIN_LISTEN": {"admin-listen", "QREDGE_ADMIN_LISTEN", ":9090"},
		"QREDGE_REDIS":        {"redis", "QREDGE_REDIS", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseHelp: got %v, want %v", got, want)
	}
}

// mustFlags is commandFlags for a command that must exist.
func mustFlags(tb testing.TB, command string) map[string]flag {
	tb.Helper()
	f := commandFlags(tb, command)
	if f == nil {
		tb.Fatalf("qredge %s --help lists no flags", command)
	}
	return f
}

// defaultPort returns the port of a listen flag's default (":9090").
func defaultPort(tb testing.TB, command, env string) int {
	tb.Helper()
	f, ok := mustFlags(tb, command)[env]
	if !ok {
		tb.Fatalf("qredge %s has no %s", command, env)
	}
	_, port, err := net.SplitHostPort(f.Default)
	if err != nil {
		tb.Fatalf("qredge %s: default of %s %q: %v", command, env, f.Default, err)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		tb.Fatalf("qredge %s: default of %s %q: %v", command, env, f.Default, err)
	}
	return p
}

// anyCommandHas reports whether some qredge command has the variable.
func anyCommandHas(tb testing.TB, env string) bool {
	tb.Helper()
	for _, c := range qredgeCommands {
		if _, ok := commandFlags(tb, c)[env]; ok {
			return true
		}
	}
	return false
}

// readEnvFile reads KEY=VALUE lines, skipping blank lines and # comments.
func readEnvFile(tb testing.TB, path string) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	m := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			tb.Fatalf("%s:%d: not KEY=VALUE: %q", path, i+1, line)
		}
		if _, dup := m[k]; dup {
			tb.Fatalf("%s:%d: %s twice", path, i+1, k)
		}
		m[k] = v
	}
	return m
}
