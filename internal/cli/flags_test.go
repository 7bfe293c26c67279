package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	f := func(flagName, want string) {
		t.Helper()
		if got := EnvName(flagName); got != want {
			t.Fatalf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
	f("redis", "QREDGE_REDIS")
	f("lead-time", "QREDGE_LEAD_TIME")
	f("redis-stream-maxlen", "QREDGE_REDIS_STREAM_MAXLEN")
}

// withEnv runs test as a subtest named by args, with env set for the
// subtest only (t.Setenv ends with it).
func withEnv(t *testing.T, env map[string]string, args []string, test func(t *testing.T)) {
	t.Helper()
	t.Run(strings.Join(args, " "), func(t *testing.T) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		test(t)
	})
}

func TestParseFlags(t *testing.T) {
	f := func(env map[string]string, args []string, want, wantArgs, wantErr string) {
		t.Helper()
		withEnv(t, env, args, func(t *testing.T) {
			fs := NewFlagSet("x", "x", io.Discard)
			name := fs.String("name", "def", "")
			n := fs.Int("n", 1, "")
			err := ParseFlags(fs, args)
			if wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("%v: error %v, want %q", args, err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if got := *name + " " + strings.Repeat("i", *n); got != want {
				t.Fatalf("%v: flags %q, want %q", args, got, want)
			}
			if got := strings.Join(fs.Args(), ","); got != wantArgs {
				t.Fatalf("%v: args %q, want %q", args, got, wantArgs)
			}
		})
	}
	f(nil, nil, "def i", "", "")
	f(map[string]string{"QREDGE_NAME": "env", "QREDGE_N": "2"}, nil, "env ii", "", "")
	// The command line wins over the environment.
	f(map[string]string{"QREDGE_NAME": "env"}, []string{"--name", "cli"}, "cli i", "", "")
	// Flags may follow positional arguments; "--" ends the flags.
	f(nil, []string{"a", "--n", "3", "b"}, "def iii", "a,b", "")
	f(nil, []string{"a", "--", "--n", "3"}, "def i", "a,--n,3", "")
	f(map[string]string{"QREDGE_N": "many"}, nil, "", "", "invalid value \"many\" for QREDGE_N")
}

func TestParseFlagsErrors(t *testing.T) {
	fs := NewFlagSet("x", "x", io.Discard)
	if err := ParseFlags(fs, []string{"--nope"}); !errors.Is(err, ErrUsage) {
		t.Fatalf("unknown flag: %v, want ErrUsage", err)
	}
	fs = NewFlagSet("x", "x", io.Discard)
	if err := ParseFlags(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v, want flag.ErrHelp", err)
	}
	fs = NewFlagSet("x", "x", io.Discard)
	if err := ParseNoArgs(fs, []string{"extra"}); err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Fatalf("ParseNoArgs: %v", err)
	}
}

func TestUsageShowsVariables(t *testing.T) {
	var out strings.Builder
	fs := NewFlagSet("x", "qredge x [flags]", &out)
	fs.Duration("lead-time", 0, "how long before")
	fs.String("hpa", "qredge-edge", "the HPA")
	fs.Usage()
	for _, want := range []string{
		"Usage: qredge x [flags]\n",
		"  --hpa  [QREDGE_HPA] (default \"qredge-edge\")\n      the HPA\n",
		"  --lead-time  [QREDGE_LEAD_TIME] (default \"0s\")\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

// TestExclusive: of exclusive flags, one given on the command line keeps
// the others' environment variables out; with none given, the
// environment fills them all (and the command refuses two).
func TestExclusive(t *testing.T) {
	f := func(env map[string]string, args []string, want string) {
		t.Helper()
		withEnv(t, env, args, func(t *testing.T) {
			fs := NewFlagSet("x", "x", io.Discard)
			redis := fs.String("redis", "", "")
			dir := fs.String("data-dir", "", "")
			other := fs.String("other", "", "")
			Exclusive(fs, "redis", "data-dir", "not-registered")
			if err := ParseFlags(fs, args); err != nil {
				t.Fatal(err)
			}
			if got := *redis + "|" + *dir + "|" + *other; got != want {
				t.Fatalf("%v: redis|data-dir|other %q, want %q", args, got, want)
			}
		})
	}
	env := map[string]string{"QREDGE_REDIS": "r:6379", "QREDGE_DATA_DIR": "/env", "QREDGE_OTHER": "o"}
	f(env, nil, "r:6379|/env|o")
	f(env, []string{"--data-dir", "/cli"}, "|/cli|o")
	f(env, []string{"--redis", "c:1"}, "c:1||o")
	f(env, []string{"--redis", "c:1", "--data-dir", "/cli"}, "c:1|/cli|o")
	f(map[string]string{"QREDGE_REDIS": "r:6379"}, []string{"--other", "x"}, "r:6379||x")
}
