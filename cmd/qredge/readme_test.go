package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeBlock is one shell example of the README and how it is run.
type readmeBlock struct {
	line   int    // of the opening fence
	marker string // the HTML comment before the fence, without <!-- -->
	body   string
}

// readmeBlocks returns the README's shell blocks (```sh) after the first
// one (the two commands at the top), each with the HTML comment that
// precedes its fence.
func readmeBlocks(t *testing.T) (top string, blocks []readmeBlock) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	marker := ""
	first := true
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(l, "<!--") && strings.HasSuffix(l, "-->") && !strings.HasPrefix(l, "<!-- /"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "<!--"), "-->"))
		case l == "":
		case strings.HasPrefix(l, "```"):
			lang := strings.TrimPrefix(l, "```")
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), "```") {
				j++
			}
			body := strings.Join(lines[i+1:j], "\n")
			if lang == "sh" || lang == "bash" || lang == "console" {
				if first {
					top = body
				} else {
					blocks = append(blocks, readmeBlock{line: i + 1, marker: marker, body: body})
				}
				first = false
			}
			i, marker = j, ""
		default:
			marker = ""
		}
	}
	return top, blocks
}

// readmeSection returns the lines of the README between <!-- name -->
// and <!-- /name -->, without code fences and HTML comments.
func readmeSection(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- "+name+" -->")
	end := strings.Index(s, "<!-- /"+name+" -->")
	if start < 0 || end < start {
		t.Fatalf("README.md has no <!-- %s --> block", name)
	}
	var lines []string
	for _, line := range strings.Split(s[start:end], "\n") {
		if !strings.HasPrefix(line, "```") && !strings.HasPrefix(line, "<!--") {
			lines = append(lines, line)
		}
	}
	return lines
}

// transcript splits a block of "$ command" lines, each followed by the
// output it shows, into commands (continuation lines joined) and outputs.
func transcript(body string) (cmds, outs []string) {
	cont := false
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(l, "$ "):
			cmds = append(cmds, strings.TrimPrefix(l, "$ "))
			outs = append(outs, "")
			cont = strings.HasSuffix(l, "\\")
		case cont:
			cmds[len(cmds)-1] += "\n" + l
			cont = strings.HasSuffix(l, "\\")
		case len(outs) > 0:
			outs[len(outs)-1] += l + "\n"
		}
	}
	return cmds, outs
}

// squash drops line breaks and the indentation after them.
func squash(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.TrimLeft(l, " \t"))
	}
	return b.String()
}

// TestReadmeExamples runs every shell example of the README in order,
// word for word, against one built 'qredge serve' (only the address
// differs), with the qredge binary on PATH and QREDGE_KEY set as the
// quick start sets it. Every block says how it is run, in an HTML comment
// before its fence:
//
//	<!-- quickstart -->         the quick start (its serve command is the running server)
//	<!-- example -->            run with sh -e; every curl must get no 4xx or 5xx
//	<!-- example: transcript --> "$ command" lines run, and the output shown (with "..."
//	                            for elided parts) must be what the command prints
//	<!-- not run: REASON -->    not run, for the reason given
//
// Other markers (<!-- campaign -->) run like example. A shell block
// without a marker fails the test, so no new example goes untried.
func TestReadmeExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test builds the binary")
	}
	mustLookCurl(t)
	realCurl, _ := exec.LookPath("curl")
	top, blocks := readmeBlocks(t)
	if !strings.Contains(top, "go run ./cmd/qredge serve") || !strings.Contains(top, "make test") {
		t.Fatalf("the README's first block is not the two commands (run qredge, run the tests):\n%s", top)
	}
	for _, b := range blocks {
		if b.marker == "" {
			t.Fatalf("README.md:%d: a shell block without a marker: add <!-- example -->, <!-- example: transcript --> or <!-- not run: REASON -->", b.line)
		}
		if r, ok := strings.CutPrefix(b.marker, "not run:"); ok && strings.TrimSpace(r) == "" {
			t.Fatalf("README.md:%d: <!-- not run: --> without a reason", b.line)
		}
	}

	bin := mustBuild(t)
	binDir := filepath.Dir(bin)
	// curl on PATH fails on any 4xx or 5xx answer, showing its body.
	shim := "#!/bin/sh\nexec " + realCurl + " --fail-with-body \"$@\"\n"
	if err := os.WriteFile(filepath.Join(binDir, "curl"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := mustStartProc(t, bin, dir)
	defer p.stop(t)
	if p.key == "" {
		t.Fatalf("no 'api key:' line on first start:\n%s", p.stderr)
	}
	env := append(os.Environ(), "QREDGE_KEY="+p.key, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	run := func(b readmeBlock, script string, curl bool) string {
		t.Helper()
		script = strings.ReplaceAll(script, "localhost:8080", p.addr)
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir = dir
		cmd.Env = env
		if !curl { // the real curl, which exits 0 on an HTTP error
			cmd.Env = append(env[:len(env):len(env)], "PATH="+os.Getenv("PATH"))
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README.md:%d: %v\n%s\n--- output:\n%s\n--- server log:\n%s", b.line, err, script, out, p.stderr)
		}
		return string(out)
	}
	ran := 0
	for _, b := range blocks {
		switch {
		case strings.HasPrefix(b.marker, "not run:"):
			continue
		case b.marker == "quickstart":
			var lines []string
			for _, l := range strings.Split(b.body, "\n") {
				if strings.HasPrefix(l, "go run ./cmd/qredge serve") || strings.HasPrefix(l, "export QREDGE_KEY=") {
					continue // the running server, and the key it printed
				}
				lines = append(lines, l)
			}
			run(b, strings.Join(lines, "\n"), true)
		case b.marker == "example: transcript":
			cmds, outs := transcript(b.body)
			if len(cmds) == 0 {
				t.Fatalf("README.md:%d: a transcript without a \"$ \" line", b.line)
			}
			for i, c := range cmds {
				got := squash(run(b, c, false))
				at := 0
				for _, part := range strings.Split(squash(outs[i]), "...") {
					k := strings.Index(got[at:], part)
					if k < 0 {
						t.Fatalf("README.md:%d: %s\nprints\n%s\nwhich lacks %q of the output the README shows", b.line, c, got, part)
					}
					at += k + len(part)
				}
			}
		default:
			run(b, b.body, true)
		}
		ran++
	}
	if ran < 5 {
		t.Fatalf("only %d README examples ran", ran)
	}
	t.Logf("%d README examples ran, %d not run", ran, len(blocks)-ran)
}
