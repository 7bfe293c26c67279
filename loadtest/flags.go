package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// Flags are the command line of 'qredge loadtest run': the Config's own
// settings, bound straight into it, and the profile that makes its
// Schedule and Codes (Build).
type Flags struct {
	Config
	Profile      string // constant, spike or ramp
	Rate         float64
	FromRate     float64
	Duration     time.Duration
	Idle         time.Duration
	ScheduleFile string // replaces Profile
	CodesPrefix  string
	NCodes       int
	Report       string // the JSON report's file
	Quiet        bool   // no per-second progress lines
}

// DefaultFlags returns the defaults of 'qredge loadtest run'.
func DefaultFlags() Flags {
	c := DefaultConfig()
	c.UnknownFraction = 0.01 // bots guessing codes
	return Flags{Config: c, Profile: "constant", Rate: 1000, Duration: 10 * time.Second, Idle: time.Second,
		CodesPrefix: "c", NCodes: 100000}
}

// RegisterFlags adds the flags.
func (f *Flags) RegisterFlags(fs *flag.FlagSet) {
	c := &f.Config
	fs.StringVar(&c.Target, "target", c.Target, "base URL of the redirect server (127.0.0.1 for benchmarks)")
	fs.StringVar(&c.Host, "host", c.Host, "Host header to send instead of the target's (a custom domain)")
	fs.StringVar(&f.Profile, "profile", f.Profile, "rate profile: constant, spike (idle, then --rate within one second) or ramp (--from-rate to --rate)")
	fs.Float64Var(&f.Rate, "rate", f.Rate, "requests per second (the target of spike and ramp)")
	fs.Float64Var(&f.FromRate, "from-rate", f.FromRate, "start rate of ramp")
	fs.DurationVar(&f.Duration, "duration", f.Duration, "how long the rate (or the ramp) lasts")
	fs.DurationVar(&f.Idle, "idle", f.Idle, "idle time before a spike")
	fs.StringVar(&f.ScheduleFile, "schedule", f.ScheduleFile, "schedule file, one step per line: '10s 1000' or '30s 1000..50000'; replaces --profile")
	fs.StringVar(&f.CodesPrefix, "codes-prefix", f.CodesPrefix, "codes are <prefix>1..<prefix>N, as 'qredge loadtest seed' makes them")
	fs.IntVar(&f.NCodes, "codes", f.NCodes, "how many codes exist")
	fs.StringVar(&c.Dist, "dist", c.Dist, "code popularity: uniform or zipf")
	fs.Float64Var(&c.ZipfS, "zipf-s", c.ZipfS, "Zipf exponent (> 1; larger is more skewed)")
	fs.Float64Var(&c.UnknownFraction, "unknown", c.UnknownFraction, "fraction of requests for codes that do not exist (bots guessing)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the request sequence")
	fs.StringVar(&c.CountryHeader, "country-header", c.CountryHeader, "send a country mix in this header, such as CF-IPCountry")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "timeout of one request")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "most requests in flight (connections)")
	fs.StringVar(&f.Report, "report", f.Report, "write the JSON report to this file")
	fs.BoolVar(&f.Quiet, "quiet", f.Quiet, "no progress lines on stderr")
}

// Build returns the Config with its Codes and its Schedule (from
// ScheduleFile, else from the profile).
func (f *Flags) Build() (Config, error) {
	cfg := f.Config
	if f.NCodes < 1 {
		return cfg, errors.New("--codes must be at least 1")
	}
	cfg.Codes = Codes(f.CodesPrefix, f.NCodes)
	if f.ScheduleFile != "" {
		file, err := os.Open(f.ScheduleFile)
		if err != nil {
			return cfg, fmt.Errorf("--schedule: %w", err)
		}
		defer file.Close()
		if cfg.Schedule, err = ParseSchedule(file); err != nil {
			return cfg, fmt.Errorf("--schedule %s: %w", f.ScheduleFile, err)
		}
		return cfg, nil
	}
	switch f.Profile {
	case "constant":
		cfg.Schedule = Constant(f.Rate, f.Duration)
	case "spike":
		cfg.Schedule = Spike(f.Idle, f.Rate, f.Duration)
	case "ramp":
		cfg.Schedule = Ramp(f.FromRate, f.Rate, f.Duration)
	default:
		return cfg, fmt.Errorf("--profile %q: want constant, spike or ramp", f.Profile)
	}
	return cfg, nil
}
