package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMeterLines: off a terminal a line every 5 s with the rate, and with
// a total the percentage and the time left; nothing when quiet.
func TestMeterLines(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "import", "links", 1000, false)
	clock := m.start
	m.now = func() time.Time { return clock }
	clock = clock.Add(time.Second)
	m.Update(100, 100)
	if out.Len() != 0 {
		t.Fatalf("a line before 5 s: %q", out.String())
	}
	clock = clock.Add(4 * time.Second)
	m.Update(250, 250)
	if got := out.String(); got != "import:  25%, 250 links, 50 links/s, about 15s left\n" {
		t.Fatalf("line %q", got)
	}
	out.Reset()
	u := New(&out, "export", "links", 0, false)
	u.now = func() time.Time { return u.start.Add(10 * time.Second) }
	u.Update(5000, 0)
	u.Done()
	if got := out.String(); !strings.HasPrefix(got, "export: 5000 links, 500 links/s\n") {
		t.Fatalf("line without a total %q", got)
	}
	if q := New(&out, "x", "links", 0, true); q != nil {
		t.Fatal("a quiet meter")
	}
	var nilMeter *Meter
	nilMeter.Update(1, 1) // a quiet meter is nil and does nothing
	nilMeter.Done()
}
