package cli

import (
	"runtime/debug"
	"testing"
)

// TestVersionFrom: without -ldflags (dev, unknown) the version and commit
// come from Go's build info: the module version and VCS revision that a
// plain go build in a git checkout records.
func TestVersionFrom(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Version: "v0.0.0-20261207120000-e95462e250ae"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "e95462e250ae9a6ca3af290cbe3f0823944f34bd"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	f := func(bi *debug.BuildInfo, version, commit, wantV, wantC string) {
		t.Helper()
		if v, c := versionFrom(bi, version, commit); v != wantV || c != wantC {
			t.Fatalf("versionFrom(%v, %q, %q) = %q, %q; want %q, %q", bi, version, commit, v, c, wantV, wantC)
		}
	}
	f(stamped, "dev", "unknown", "v0.0.0-20261207120000-e95462e250ae", "e95462e250ae")
	f(dirty, "dev", "unknown", "dev", "abc123-dirty")
	f(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev", "unknown", "dev", "unknown") // no VCS stamp
	f(nil, "dev", "unknown", "dev", "unknown")
	f(stamped, "v1.2.3", "0123abc", "v1.2.3", "0123abc") // -ldflags win
}
