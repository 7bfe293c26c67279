package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Register adds a command's flags: its components' flag groups, in
// order, as Check runs their checks.
func Register(fs *flag.FlagSet, groups ...func(*flag.FlagSet)) {
	for _, g := range groups {
		g(fs)
	}
}

// EnvName returns the environment variable of a flag: QREDGE_ and the flag
// name in upper case with '-' as '_'.
func EnvName(flagName string) string {
	return "QREDGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// NewFlagSet returns a flag set whose usage lists each flag with its
// environment variable.
func NewFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags (each can also be set by the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s  [%s]%s\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
		})
	}
	return fs
}

// ErrUsage marks errors after which the usage was already printed: a
// command exits with status 2 on it.
var ErrUsage = errors.New("usage")

// ParseNoArgs is ParseFlags for a command that takes no positional
// arguments.
func ParseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// exclusive holds the groups of Exclusive, by flag set.
var exclusive sync.Map // *flag.FlagSet -> [][]string

// Exclusive declares flags of fs of which a command takes one, such as
// where its links come from (--api, --data-dir, --redis): when one of them
// is given on the command line, ParseFlags reads none of the group from
// the environment, so that a QREDGE_REDIS set for the servers does not
// clash with --data-dir on the command line. Names fs does not have are
// ignored.
func Exclusive(fs *flag.FlagSet, names ...string) {
	var groups [][]string
	if g, ok := exclusive.Load(fs); ok {
		groups = g.([][]string)
	}
	exclusive.Store(fs, append(groups, names))
}

// ParseFlags parses args, then fills every flag not given on the command
// line from its environment variable. Command-line flags win.
//
// Flags may follow positional arguments ("revoke ID --data-dir DIR"); the
// positional arguments are then in fs.Args().
func ParseFlags(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return flag.ErrHelp
			}
			return ErrUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments in fs.Args().
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return ErrUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	// Of a set of exclusive flags, one given on the command line keeps
	// the others' environment variables out.
	skip := map[string]bool{}
	if groups, ok := exclusive.Load(fs); ok {
		for _, group := range groups.([][]string) {
			for _, name := range group {
				if given[name] {
					for _, other := range group {
						skip[other] = true
					}
				}
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || skip[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %v", v, EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// ExitCode is the exit status of a command that returned err: 0 for none
// (and for --help), 2 for a usage error (the usage was printed), 1 for
// any other error, which is printed to stderr after prefix.
func ExitCode(err error, stderr io.Writer, prefix string) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", prefix, err)
	return 1
}

// Dispatch runs the subcommand args[0] names (links, loadtest, dataset)
// with the rest of args. Without one, or with an unknown one, it prints
// usage to stderr and returns ErrUsage; help, -h and --help print it to
// stdout.
func Dispatch(name, usage string, args []string, stdout, stderr io.Writer, subs map[string]func(args []string) error) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ErrUsage
	}
	if run, ok := subs[args[0]]; ok {
		return run(args[1:])
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "qredge %s: unknown command %q\n\n%s", name, args[0], usage)
	return ErrUsage
}
