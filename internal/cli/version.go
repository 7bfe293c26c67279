package cli

import "runtime/debug"

// Version returns the version and commit set at build time (with
// -ldflags -X; "dev" and "unknown" when not), or else the module version
// and VCS revision Go's build info holds.
func Version(version, commit string) (v, c string) {
	v, c = version, commit
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c
	}
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if c == "unknown" {
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified == "true" {
			rev += "-dirty"
		}
		if rev != "" {
			c = rev
		}
	}
	return v, c
}
