package defaults

import (
	"testing"
	"time"
)

func TestPositive(t *testing.T) {
	f := func(v, def, want time.Duration) {
		t.Helper()
		Positive(&v, def)
		if v != want {
			t.Fatalf("Positive(%v, %v) left %v, want %v", v, def, v, want)
		}
	}
	f(0, time.Second, time.Second)
	f(-time.Millisecond, time.Second, time.Second)
	f(time.Millisecond, time.Second, time.Millisecond)

	n := 0
	Positive(&n, 7)
	if n != 7 {
		t.Fatalf("int: %d", n)
	}
}
