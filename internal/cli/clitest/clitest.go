// Package clitest tests a component's flag group: its RegisterFlags,
// the parsing of a command line and its Check. It does not import
// internal/cli, so that the packages internal/cli depends on can use it
// too. Only tests import it.
package clitest

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// Parse registers flags with register on a new flag set that prints
// nothing and parses args, failing tb if they do not parse.
func Parse(tb testing.TB, register func(*flag.FlagSet), args []string) {
	tb.Helper()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	if err := fs.Parse(args); err != nil {
		tb.Fatal(err)
	}
}

// WantErr fails tb unless err is nil for an empty want and an error
// containing want otherwise. what (the arguments, say) starts the
// message.
func WantErr(tb testing.TB, what any, err error, want string) {
	tb.Helper()
	if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		tb.Fatalf("%v: error %v, want %q", what, err, want)
	}
}
