package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Registrar is the part of *flag.FlagSet the config structs use.
type Registrar interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	Int64Var(*int64, string, int64, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
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
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
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
