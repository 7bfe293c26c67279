package cli

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Version returns the version and commit set at build time (with
// -ldflags -X; "dev" and "unknown" when not), or else the module version
// and VCS revision Go's build info holds.
func Version(version, commit string) (v, c string) {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(bi, version, commit)
}

// versionFrom is Version with the build info given (nil: none).
func versionFrom(bi *debug.BuildInfo, version, commit string) (v, c string) {
	v, c = version, commit
	if bi == nil {
		return v, c
	}
	if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if c == "unknown" && rev != "" {
		c = rev[:min(len(rev), 12)]
		if modified == "true" {
			c += "-dirty"
		}
	}
	return v, c
}

// BuildInfo is the qredge_build_info gauge of Version(version, commit).
func BuildInfo(version, commit string) prometheus.Collector {
	v, c := Version(version, commit)
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "qredge_build_info",
		Help:        "Always 1; the labels tell the running version.",
		ConstLabels: prometheus.Labels{"version": v, "commit": c, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
