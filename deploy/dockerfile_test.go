package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
	Line int
}

// stage is a FROM and the instructions up to the next one.
type stage struct {
	From, Name string
	Instrs     []instruction
}

func (s *stage) all(cmd string) []instruction {
	var r []instruction
	for _, in := range s.Instrs {
		if in.Cmd == cmd {
			r = append(r, in)
		}
	}
	return r
}

// index returns the position of the first instruction cmd whose
// arguments match re, or -1.
func (s *stage) index(cmd string, re *regexp.Regexp) int {
	for i, in := range s.Instrs {
		if in.Cmd == cmd && re.MatchString(in.Args) {
			return i
		}
	}
	return -1
}

// parseDockerfile splits a Dockerfile into stages. Comment lines are
// dropped (also inside continuations, as Docker does); a trailing
// backslash continues the instruction.
func parseDockerfile(text string) ([]*stage, error) {
	var stages []*stage
	var err error
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			st := &stage{From: f[0]}
			for i, w := range f {
				if strings.HasPrefix(w, "--") && err == nil {
					err = fmt.Errorf("Dockerfile:%d: FROM flags are not expected: %s", in.Line, w)
				}
				if strings.EqualFold(w, "AS") && i+1 < len(f) {
					st.Name = f[i+1]
				}
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.Cmd != "ARG" && err == nil {
				err = fmt.Errorf("Dockerfile:%d: %s before the first FROM", in.Line, in.Cmd)
			}
			return
		}
		last := stages[len(stages)-1]
		last.Instrs = append(last.Instrs, in)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			continue
		}
		if cur.Len() == 0 {
			if t == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`) + " ")
			continue
		}
		cur.WriteString(t)
		flush()
	}
	flush()
	return stages, err
}

// execForm decodes the JSON array (exec) form of ENTRYPOINT or CMD; nil
// for the shell form, which would need a shell the image does not have.
func execForm(in instruction) []string {
	var v []string
	if json.Unmarshal([]byte(in.Args), &v) != nil {
		return nil
	}
	return v
}

// goMinor returns the go directive of the main module's go.mod as 1.N.
func goMinor(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		tb.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?$`).FindSubmatch(b)
	if m == nil {
		tb.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// makeBuildCommand returns what `make build` runs, from make -n.
func makeBuildCommand(tb testing.TB) string {
	tb.Helper()
	out, err := makeCommand("-n", "build", "VERSION=V1", "COMMIT=C1").Output()
	if err != nil {
		tb.Fatalf("make -n build: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// dockerfileFacts is what the Dockerfile is checked against, taken from
// the repository: go.mod, make -n build and the commands' --help.
type dockerfileFacts struct {
	GoMinor   string // 1.26
	MakeBuild string // the command make build runs
	Ports     []int  // default ports of the commands' listeners
}

func repoDockerfileFacts(tb testing.TB) dockerfileFacts {
	tb.Helper()
	f := dockerfileFacts{GoMinor: goMinor(tb), MakeBuild: makeBuildCommand(tb)}
	for _, c := range []string{"serve", "edge", "api", "analytics", "webhooks"} {
		for _, env := range []string{"QREDGE_LISTEN", "QREDGE_ADMIN_LISTEN"} {
			// A listener off by default (serve's --admin-listen) has no
			// port to expose.
			if fl, ok := mustFlags(tb, c)[env]; ok && fl.Default != "" {
				f.Ports = append(f.Ports, defaultPort(tb, c, env))
			}
		}
	}
	return f
}

// TestDockerfile: the image is built by make build, so the binary in the
// image and the one of `make build` come from one command; it runs on
// distroless or scratch as a non-root user, without HEALTHCHECK, with the
// default ports and a data directory the user can write.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	facts := repoDockerfileFacts(t)
	for _, w := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=V1", "-X main.commit=C1"} {
		if !strings.Contains(facts.MakeBuild, w) {
			t.Errorf("make build runs %q: no %s", facts.MakeBuild, w)
		}
	}
	for _, p := range dockerfileProblems(string(b), facts) {
		t.Error(p)
	}
}

// TestDockerfileProblems: the checks of TestDockerfile catch each mistake.
func TestDockerfileProblems(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	facts := dockerfileFacts{GoMinor: goMinor(t), Ports: []int{8080, 8081, 9090, 9091, 9095},
		MakeBuild: `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=V1 -X main.commit=C1" -o bin/qredge ./cmd/qredge` + "\n" +
			`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=V1 -X main.commit=C1" -o bin/qredge-prescale ./cmd/qredge-prescale`}
	if p := dockerfileProblems(good, facts); len(p) > 0 {
		t.Fatalf("the Dockerfile has problems: %q", p)
	}
	f := func(name, old, new, want string) {
		t.Helper()
		if !strings.Contains(good, old) {
			t.Fatalf("%s: the Dockerfile has no %q", name, old)
		}
		bad := strings.Replace(good, old, new, 1)
		p := dockerfileProblems(bad, facts)
		if !strings.Contains(strings.Join(p, "\n"), want) {
			t.Errorf("%s: problems %q, want one with %q", name, p, want)
		}
	}
	f("go build", "make build VERSION=$VERSION COMMIT=$COMMIT", "go build -o bin/qredge ./cmd/qredge", "make build")
	f("root", "USER 65532:65532", "USER root", "non-root")
	f("uid 0", "USER 65532:65532", "USER 0:0", "non-root")
	f("healthcheck", "VOLUME /data", "VOLUME /data\nHEALTHCHECK CMD [\"/usr/local/bin/qredge\", \"version\"]", "HEALTHCHECK")
	f("debian runtime", "gcr.io/distroless/static-debian12:nonroot", "debian:bookworm-slim", "distroless")
	f("other go", "golang:1.26-bookworm", "golang:1.22-bookworm", "go directive")
	f("no cache layer", "RUN go mod download\n", "", "go mod download")
	f("no chown", "--chown=65532:65532 ", "", "--chown")
	f("port", "EXPOSE 8080 8081 9090 9091 9095", "EXPOSE 8080 8081 9090", "9095")
	f("label", "org.opencontainers.image.revision", "org.opencontainers.image.rev", "revision")
	f("build output", "/src/bin/qredge", "/src/qredge", "output of make build")
	f("no prescale binary", "COPY --from=build /src/bin/qredge-prescale /usr/local/bin/qredge-prescale\n", "", "/src/bin/qredge-prescale /usr/local/bin/qredge-prescale (the output of make build)")
	f("arg scope", "FROM gcr.io/distroless/static-debian12:nonroot\nARG VERSION=dev\n", "FROM gcr.io/distroless/static-debian12:nonroot\n", "ARG VERSION")
}

// dockerfileProblems checks a Dockerfile's text and returns what is wrong.
func dockerfileProblems(text string, facts dockerfileFacts) (problems []string) {
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stages, err := parseDockerfile(text)
	if err != nil {
		return []string{err.Error()}
	}
	if len(stages) < 2 {
		return []string{fmt.Sprintf("Dockerfile: %d stages, want a build stage and a runtime stage", len(stages))}
	}

	b := stages[0]
	want := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(facts.GoMinor) + `(\.\d+)?-bookworm(@sha256:[0-9a-f]{64})?$`)
	if !want.MatchString(b.From) {
		errorf("build stage FROM %s, want golang:%s[.patch]-bookworm (the go directive of go.mod)", b.From, facts.GoMinor)
	}
	if b.Name == "" {
		errorf("build stage has no name (FROM ... AS build)")
	}
	copyMod := b.index("COPY", regexp.MustCompile(`^go\.mod go\.sum \./?$`))
	download := b.index("RUN", regexp.MustCompile(`^go mod download$`))
	copyAll := b.index("COPY", regexp.MustCompile(`^\. \.?/?$`))
	if copyMod < 0 || download < 0 || copyAll < 0 || !(copyMod < download && download < copyAll) {
		errorf("build stage: want COPY go.mod go.sum ./, RUN go mod download, COPY . . in this order (the modules' layer is cached); positions %d %d %d", copyMod, download, copyAll)
	}
	for _, s := range stages {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.Args, "go build") || strings.Contains(in.Args, "go install") {
				errorf("Dockerfile:%d: builds with go directly (%s); make build is the one build command", in.Line, in.Args)
			}
		}
	}
	mk := b.index("RUN", regexp.MustCompile(`(^|\s)make build VERSION=\$\{?VERSION\}? COMMIT=\$\{?COMMIT\}?$`))
	if mk < 0 {
		errorf("build stage: no RUN ... make build VERSION=$VERSION COMMIT=$COMMIT")
		mk = len(b.Instrs)
	}
	for _, arg := range []string{"VERSION", "COMMIT"} {
		if i := b.index("ARG", regexp.MustCompile(`^`+arg+`(=|$)`)); i < 0 || i > mk {
			errorf("build stage: ARG %s must come before make build", arg)
		}
	}

	// The runtime stage copies every binary make build wrote (qredge, and
	// qredge-prescale, which qredge runs from beside it) to /usr/local/bin.
	rt := stages[len(stages)-1]
	if ms := regexp.MustCompile(`\s-o\s+(\S+)`).FindAllStringSubmatch(facts.MakeBuild, -1); ms == nil {
		errorf("make build runs %q: no -o", facts.MakeBuild)
	} else {
		workdir := "/"
		for _, in := range b.Instrs[:mk] {
			if in.Cmd == "WORKDIR" {
				workdir = in.Args
			}
		}
		for _, m := range ms {
			wantCopy := "--from=" + b.Name + " " + filepath.Join(workdir, m[1]) + " /usr/local/bin/" + filepath.Base(m[1])
			if rt.index("COPY", regexp.MustCompile(`^`+regexp.QuoteMeta(wantCopy)+`$`)) < 0 {
				errorf("runtime stage: want COPY %s (the output of make build)", wantCopy)
			}
		}
	}

	if rt.From != "scratch" && !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$`).MatchString(rt.From) {
		errorf("runtime stage FROM %s, want gcr.io/distroless/static or scratch", rt.From)
	}
	for _, s := range stages {
		if hc := s.all("HEALTHCHECK"); len(hc) > 0 {
			errorf("Dockerfile:%d: HEALTHCHECK (the image has no shell or HTTP client; orchestrators probe /healthz and /readyz)", hc[0].Line)
		}
	}

	user := ""
	if users := rt.all("USER"); len(users) > 0 {
		user = users[len(users)-1].Args
	}
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || gid == "" {
		errorf("runtime stage: USER %q, want a numeric non-root uid:gid (runAsNonRoot can only verify numbers)", user)
	}

	if ep := rt.all("ENTRYPOINT"); len(ep) != 1 || !slices.Equal(execForm(ep[0]), []string{"/usr/local/bin/qredge"}) {
		errorf("runtime stage: want ENTRYPOINT [\"/usr/local/bin/qredge\"]")
	}
	var cmd []string
	if cmds := rt.all("CMD"); len(cmds) == 1 {
		cmd = execForm(cmds[0])
	}
	i := slices.Index(cmd, "--data-dir")
	if len(cmd) == 0 || cmd[0] != "serve" || i < 0 || i+1 >= len(cmd) {
		errorf("runtime stage: CMD %q, want [\"serve\", \"--data-dir\", DIR]", cmd)
	} else {
		dataDir := cmd[i+1]
		if vol := rt.all("VOLUME"); len(vol) != 1 || strings.Trim(vol[0].Args, `[]" `) != dataDir {
			errorf("runtime stage: want VOLUME %s (the --data-dir of serve)", dataDir)
		}
		// Distroless has no shell to mkdir or chown: the directory is
		// copied in, owned by the user, or serve cannot write it.
		chown := regexp.MustCompile(`^--from=\S+ --chown=` + regexp.QuoteMeta(user) + ` \S+ ` + regexp.QuoteMeta(dataDir) + `/?$`)
		if rt.index("COPY", chown) < 0 {
			errorf("runtime stage: want COPY --from=<build> --chown=%s <dir> %s", user, dataDir)
		}
	}

	var exposed []int
	for _, in := range rt.all("EXPOSE") {
		for _, p := range strings.Fields(in.Args) {
			n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
			if err != nil {
				errorf("Dockerfile:%d: EXPOSE %s", in.Line, p)
			}
			exposed = append(exposed, n)
		}
	}
	for _, p := range facts.Ports {
		if !slices.Contains(exposed, p) {
			errorf("runtime stage: EXPOSE lacks %d (a default port of a qredge command)", p)
		}
	}

	// OCI labels. ARGs are per stage: the runtime stage declares its own.
	labels := ""
	for _, in := range rt.all("LABEL") {
		labels += " " + in.Args
	}
	for _, l := range [][2]string{
		{"org.opencontainers.image.source", `"https://github.com/qredge/qredge"`},
		{"org.opencontainers.image.version", `"${VERSION}"`},
		{"org.opencontainers.image.revision", `"${COMMIT}"`},
	} {
		if !strings.Contains(labels, l[0]+"="+l[1]) {
			errorf("runtime stage: want LABEL %s=%s", l[0], l[1])
		}
	}
	for _, arg := range []string{"VERSION", "COMMIT"} {
		i := rt.index("ARG", regexp.MustCompile(`^`+arg+`(=|$)`))
		l := rt.index("LABEL", regexp.MustCompile(`\$\{`+arg+`\}`))
		if i < 0 || (l >= 0 && i > l) {
			errorf("runtime stage: no ARG %s before LABEL, so the label would be empty", arg)
		}
	}
	return problems
}

// TestDockerignore: the context leaves out the repository's history,
// binaries and data, and keeps every file the build needs.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(p string) bool {
		ok, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, p := range []string{".git/HEAD", "bin/qredge", "bin/qredge-prescale", "qredge", "qredge-prescale", "api.test", "qredge-data/links.db", "cmd/qredge/qredge-spool/x", "deploy/go.mod"} {
		if !ignored(p) {
			t.Errorf(".dockerignore keeps %s in the build context", p)
		}
	}
	// Every file of the packages the binary is built from, and embedded
	// files, must reach the build.
	out, err := exec.Command("go", "list", "-C", repoRoot, "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/qredge", "./cmd/qredge-prescale").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	need := []string{"go.mod", "go.sum", "Makefile"}
	for _, p := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a module from the module cache: downloaded in the image
		}
		need = append(need, rel)
	}
	if len(need) < 10 {
		t.Fatalf("go list found only %d files of the binaries", len(need))
	}
	for _, p := range need {
		if ignored(filepath.ToSlash(p)) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", p)
		}
	}
}

// TestMakeBuildStatic: `make build` (the Dockerfile's build command) gives
// static binaries, which distroless/static needs (no libc, no loader), with
// the version and commit passed to it; 'qredge prescale' runs the
// qredge-prescale beside qredge.
func TestMakeBuildStatic(t *testing.T) {
	bin := qredgeBinary(t)
	for _, name := range builtBinaries {
		f, err := elf.Open(filepath.Join(filepath.Dir(bin), name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("bin/%s has a PT_INTERP program header: dynamically linked (CGO_ENABLED=0 missing?)", name)
			}
			if p.Type == elf.PT_DYNAMIC {
				t.Errorf("bin/%s has a PT_DYNAMIC program header: dynamically linked", name)
			}
		}
		if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
			t.Errorf("bin/%s needs shared libraries %v (%v)", name, libs, err)
		}
	}
	direct, _ := exec.Command(filepath.Join(filepath.Dir(bin), "qredge-prescale"), "--help").CombinedOutput()
	shim, _ := exec.Command(bin, "prescale", "--help").CombinedOutput()
	if !strings.Contains(string(direct), "--replicas  [QREDGE_REPLICAS]") || string(shim) != string(direct) {
		t.Errorf("qredge prescale --help printed\n%s\nwant what qredge-prescale --help prints:\n%s", shim, direct)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("qredge version: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "qredge "+testVersion+" (commit "+testCommit+")"; got != want {
		t.Errorf("qredge version printed %q, want %q", got, want)
	}
}
