package main

import (
	"bytes"
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// commandLines is every command line that takes flags, as its --help is
// asked for.
var commandLines = [][]string{
	{"serve"}, {"edge"}, {"api"}, {"analytics"}, {"webhooks"},
	{"apikey", "create"}, {"apikey", "list"}, {"apikey", "revoke"},
	{"backup"}, {"check"},
	{"links", "import"}, {"links", "export"},
	{"links", "create"}, {"links", "get"}, {"links", "list"}, {"links", "update"}, {"links", "delete"}, {"links", "qr"}, {"links", "stats"},
	{"dataset", "status"}, {"dataset", "adopt"},
	{"loadtest", "seed"}, {"loadtest", "run"},
}

// helpFlag is one flag as a command's --help lists it.
type helpFlag struct{ env, def, usage string }

var helpFlagLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)  \[([A-Z0-9_]+)\](?: \(default "(.*)"\))?\n      (.*)$`)

// helpFlags runs a command line with --help and returns its flags.
func helpFlags(t *testing.T, args []string) map[string]helpFlag {
	t.Helper()
	var out bytes.Buffer
	if code := run(context.Background(), append(append([]string{}, args...), "--help"), &out, &out); code != 0 {
		t.Fatalf("%s --help: exit %d\n%s", strings.Join(args, " "), code, out.String())
	}
	flags := map[string]helpFlag{}
	for _, m := range helpFlagLine.FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = helpFlag{env: m[2], def: m[3], usage: m[4]}
	}
	if len(flags) == 0 {
		t.Fatalf("%s --help lists no flags:\n%s", strings.Join(args, " "), out.String())
	}
	return flags
}

// perProcessDefault are the flags whose default follows the process, and
// why. Their environment variable is still one: a process reads only its
// own environment.
var perProcessDefault = map[string]string{
	"listen":       "each process has its own port, so that serve, edge, api and analytics run side by side on one machine",
	"admin-listen": "the same; serve has none by default (its probes and /metrics are on --listen)",
	"max-conns":    "edge and serve take scans from anyone (100,000); api takes marketers' requests (10,000)",
	"public-url":   "serve derives it from --listen; api answers no scans and defaults to a local edge",
	"spool-dir":    "serve keeps its spool in --data-dir",
	"data-dir":     "serve's own store has a default; the commands that open a stopped serve's store must be told which",
	"timeout":      "two settings under one name, see otherRole",
	"kafka-group":  "analytics and webhooks are two consumer groups on one topic",
}

// otherRole are the flags whose wording differs because the name is the
// same setting seen from the other side (a server's and a client's), or
// a different one kept for the scripts that use it, and why.
var otherRole = map[string]string{
	"api-key":        "servers accept it as an extra admin key; clients send it",
	"server":         "clients name the running server they talk to",
	"data-dir":       "serve's store, or a stopped serve's store that a command opens",
	"public-url":     "links import refuses destinations on it, as the API does",
	"country-header": "serve and edge trust it; loadtest run sends it",
	"format":         "links import reads the format; links export writes it",
	"timeout":        "backup: the whole copy; loadtest run: one request",
	"geoip-db":       "serve and edge locate every scan; api only the resolve endpoint's ip parameter",
	"tag":            "links export and list filter by it; links create and update set the link's tags",
	"gone-url":       "serve and edge: the deployment's, for every link; links create and update: the link's own",
}

// TestFlagsDefinedOnce: a flag name means one setting in every command:
// the same environment variable, default and wording, but for the
// documented exceptions above.
func TestFlagsDefinedOnce(t *testing.T) {
	type seen struct {
		cmd string
		f   helpFlag
	}
	byName := map[string][]seen{}
	for _, args := range commandLines {
		for name, f := range helpFlags(t, args) {
			byName[name] = append(byName[name], seen{strings.Join(args, " "), f})
		}
	}
	for _, m := range []map[string]string{perProcessDefault, otherRole} {
		for name := range m {
			if len(byName[name]) < 2 {
				t.Errorf("--%s is listed as an exception but is registered by %d command(s)", name, len(byName[name]))
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		all := byName[name]
		for _, s := range all[1:] {
			if s.f.env != all[0].f.env {
				t.Errorf("--%s: env %s in %s, %s in %s", name, all[0].f.env, all[0].cmd, s.f.env, s.cmd)
			}
			if s.f.def != all[0].f.def && perProcessDefault[name] == "" {
				t.Errorf("--%s: default %q in %s, %q in %s", name, all[0].f.def, all[0].cmd, s.f.def, s.cmd)
			}
			if s.f.usage != all[0].f.usage && otherRole[name] == "" {
				t.Errorf("--%s: meaning\n\t%q in %s,\n\t%q in %s", name, all[0].f.usage, all[0].cmd, s.f.usage, s.cmd)
			}
		}
	}
}
