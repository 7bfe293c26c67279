package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCheckReturnsTheFirstError(t *testing.T) {
	var ran []int
	step := func(i int, err error) func() error {
		return func() error { ran = append(ran, i); return err }
	}
	first, second := errors.New("first"), errors.New("second")
	if err := Check(step(1, nil), step(2, first), step(3, second)); err != first {
		t.Fatalf("Check = %v, want %v", err, first)
	}
	if !reflect.DeepEqual(ran, []int{1, 2}) {
		t.Fatalf("ran %v, want [1 2]: the checks after the first failure must not run", ran)
	}
	if err := Check(step(4, nil)); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
}

func TestClosersCloseLastFirstOnce(t *testing.T) {
	var c Closers
	var order []string
	boom := errors.New("boom")
	c.AddFunc(func() { order = append(order, "store") })
	c.Add(func() error { order = append(order, "spool"); return boom })
	c.AddFunc(func() { order = append(order, "listener") })
	if err := c.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want it to carry %v", err, boom)
	}
	if want := []string{"listener", "spool", "store"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("closed in order %v, want %v", order, want)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if len(order) != 3 {
		t.Fatalf("a second Close ran closes again: %v", order)
	}
}

func TestDispatch(t *testing.T) {
	var ran []string
	subs := map[string]func([]string) error{
		"import": func(a []string) error { ran = append(ran, strings.Join(a, " ")); return nil },
	}
	f := func(args []string, wantErr error, wantOut, wantStderr string) {
		t.Helper()
		var out, errOut strings.Builder
		if err := Dispatch("links", "Usage: qredge links import FILE\n", args, &out, &errOut, subs); err != wantErr {
			t.Fatalf("%v: Dispatch = %v, want %v", args, err, wantErr)
		}
		if out.String() != wantOut || errOut.String() != wantStderr {
			t.Fatalf("%v: stdout %q, stderr %q; want %q, %q", args, out.String(), errOut.String(), wantOut, wantStderr)
		}
	}
	f([]string{"import", "a.csv", "--atomic"}, nil, "", "")
	if len(ran) != 1 || ran[0] != "a.csv --atomic" {
		t.Fatalf("the subcommand got %q, want the arguments after its name", ran)
	}
	f(nil, ErrUsage, "", "Usage: qredge links import FILE\n")
	f([]string{"--help"}, nil, "Usage: qredge links import FILE\n", "")
	f([]string{"nope"}, ErrUsage, "", "qredge links: unknown command \"nope\"\n\nUsage: qredge links import FILE\n")
}

func TestCloseOnError(t *testing.T) {
	var c Closers
	closed := 0
	c.AddFunc(func() { closed++ })
	var err error
	c.CloseOnError(&err)
	if closed != 0 {
		t.Fatal("CloseOnError closed after a successful open")
	}
	err = errors.New("open failed")
	c.CloseOnError(&err)
	if closed != 1 {
		t.Fatalf("CloseOnError after a failed open closed %d times, want 1", closed)
	}
}
