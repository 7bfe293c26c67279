package cli

import (
	"errors"
	"reflect"
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
