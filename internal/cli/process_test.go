package cli

import (
	"strings"
	"testing"
)

func TestProcessCheck(t *testing.T) {
	f := func(c Process, wantErr string) {
		t.Helper()
		err := c.Check()
		if (err == nil) != (wantErr == "") || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%+v: Check() = %v, want %q", c, err, wantErr)
		}
	}
	f(DefaultProcess(":8080", ":9090"), "")
	f(DefaultProcess(":8080", ""), "") // serve: no admin listener by default
	f(DefaultProcess("", ":9095"), "") // analytics: no public listener
	c := DefaultProcess(":8080", ":9090")
	c.AdminListen = ""
	f(c, "--admin-listen")
	c = DefaultProcess("8080", "")
	f(c, "--listen \"8080\"")
	c = DefaultProcess(":8080", "")
	c.AdminListen = "nope"
	f(c, "--admin-listen \"nope\"")
	c = DefaultProcess(":8080", "")
	c.ShutdownTimeout = -1
	f(c, "--shutdown-timeout")
	c = DefaultProcess(":8080", "")
	c.LogFormat = "xml"
	f(c, "--log-format")
	c = DefaultProcess(":8080", "")
	c.LogLevel = "loud"
	f(c, "--log-level")
}
