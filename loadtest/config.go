package loadtest

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Config describes one load test. Start from DefaultConfig.
type Config struct {
	// Target is the base URL of the redirect server, such as
	// http://127.0.0.1:8080; requests go to Target + "/" + code.
	Target string
	// Host, if set, is sent as the Host header instead of Target's host, to
	// test a custom domain.
	Host string

	// Schedule is the rate profile: see Constant, Ramp, Spike and
	// ParseSchedule. Steps run one after the other.
	Schedule []Step

	// Codes are the existing codes to ask for; see Codes and SeedAPI.
	Codes []string
	// Dist is DistUniform or DistZipf: how popular each code is. With zipf,
	// Codes[0] is the most popular.
	Dist string
	// ZipfS is the Zipf exponent, > 1. Larger is more skewed.
	ZipfS float64
	// UnknownFraction (0..1) of the requests go to random codes that are
	// not in Codes, like bots guessing codes; they expect 404.
	UnknownFraction float64
	// Seed makes the sequence of requests repeatable: the k-th request of
	// two runs with the same Config is the same.
	Seed uint64

	// UserAgents is the User-Agent mix; empty sends none.
	UserAgents []Weighted
	// CountryHeader, if set, names a header (such as CF-IPCountry) that
	// carries a country from Countries, as a CDN in front of qredge would.
	CountryHeader string
	Countries     []Weighted
	// Referers is the Referer mix; an empty value sends no Referer.
	Referers []Weighted

	// Timeout bounds each request from the moment it is sent.
	Timeout time.Duration
	// MaxInFlight bounds the requests in flight at once, and so the
	// connections: each carries one request at a time (no pipelining).
	// Connections open on demand, up to it, and stay open.
	MaxInFlight int
	// Workers is the number of goroutines that send, each with its own
	// share of the requests and of the connections; 0 means GOMAXPROCS.
	Workers int
	// Tick is the least a worker sleeps while it has requests in flight or
	// due: requests due within a tick go out together, and responses are
	// read once a tick, their arrival times taken from the kernel's receive
	// timestamps (so a tick adds to the send delay, not to the service
	// time). Waking per request and per response costs the generator more
	// CPU than the request itself on a small machine.
	Tick time.Duration
	// BacklogTimeout is how late, after its intended time, a request may
	// still be sent. One that finds every connection of its worker busy
	// for that long is counted as an error of kind "backlog" instead of
	// being sent.
	BacklogTimeout time.Duration
}

// DefaultConfig returns the defaults: 1000 req/s for 10 s against
// http://127.0.0.1:8080, zipf popularity with s=1.1, the built-in
// User-Agent and Referer mixes, no country header, a 5 s timeout, at most
// 1024 requests in flight and a tick of 100 µs. Codes must be filled in.
func DefaultConfig() Config {
	return Config{
		Target:         "http://127.0.0.1:8080",
		Schedule:       Constant(1000, 10*time.Second),
		Dist:           DistZipf,
		ZipfS:          1.1,
		Seed:           1,
		UserAgents:     DefaultUserAgents(),
		Countries:      DefaultCountries(),
		Referers:       DefaultReferers(),
		Timeout:        5 * time.Second,
		MaxInFlight:    1024,
		Tick:           100 * time.Microsecond,
		BacklogTimeout: 5 * time.Second,
	}
}

// maxScheduleDuration bounds a run, so that a typo such as "10h" instead of
// "10s" is caught and the per-second tables stay small.
const maxScheduleDuration = 24 * time.Hour

// target is the parsed Config.Target.
type target struct {
	addr string // host:port to dial
	host string // the Host header
	path string // the base path, to which "/code" is appended; "" for none
}

// check validates cfg and parses its target.
func (cfg *Config) check() (target, error) {
	var tg target
	u, err := url.Parse(cfg.Target)
	if err != nil {
		return tg, fmt.Errorf("invalid target %q: %w", cfg.Target, err)
	}
	if u.Scheme == "https" {
		return tg, fmt.Errorf("invalid target %q: the generator speaks plain HTTP/1.1 (run it beside the server, or against the plain listener behind a TLS terminator)", cfg.Target)
	}
	if u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return tg, fmt.Errorf("invalid target %q: want http://host[:port][/base-path]", cfg.Target)
	}
	tg.addr = u.Host
	if u.Port() == "" {
		tg.addr = strings.TrimSuffix(u.Host, ":") + ":80"
	}
	tg.host = u.Host
	if cfg.Host != "" {
		tg.host = cfg.Host
	}
	tg.path = strings.TrimSuffix(u.EscapedPath(), "/")

	if len(cfg.Schedule) == 0 {
		return tg, fmt.Errorf("the schedule has no steps")
	}
	for i, st := range cfg.Schedule {
		if err := st.check(); err != nil {
			return tg, fmt.Errorf("schedule step %d: %w", i+1, err)
		}
	}
	if d := scheduleDuration(cfg.Schedule); d > maxScheduleDuration {
		return tg, fmt.Errorf("the schedule lasts %s, more than the %s a run may", d, maxScheduleDuration)
	}
	switch {
	case cfg.Dist != DistUniform && cfg.Dist != DistZipf:
		return tg, fmt.Errorf("invalid distribution %q: want %q or %q", cfg.Dist, DistUniform, DistZipf)
	case cfg.Dist == DistZipf && !(cfg.ZipfS > 1) || math.IsInf(cfg.ZipfS, 0):
		return tg, fmt.Errorf("invalid zipf exponent %v: want a number > 1", cfg.ZipfS)
	case !(cfg.UnknownFraction >= 0 && cfg.UnknownFraction <= 1):
		return tg, fmt.Errorf("invalid unknown fraction %v: want 0..1", cfg.UnknownFraction)
	case len(cfg.Codes) == 0 && cfg.UnknownFraction < 1:
		return tg, fmt.Errorf("no codes to request: fill Codes (see Codes and SeedAPI) or set UnknownFraction to 1")
	case len(cfg.Codes) > math.MaxInt32:
		return tg, fmt.Errorf("too many codes: %d", len(cfg.Codes))
	case len(cfg.UserAgents) > math.MaxUint16 || len(cfg.Countries) > math.MaxUint16 || len(cfg.Referers) > math.MaxUint16:
		return tg, fmt.Errorf("a header mix has more than %d entries", math.MaxUint16)
	case cfg.CountryHeader != "" && len(cfg.Countries) == 0:
		return tg, fmt.Errorf("country header %q set but no countries to send", cfg.CountryHeader)
	case cfg.Timeout <= 0:
		return tg, fmt.Errorf("the request timeout must be positive, got %s", cfg.Timeout)
	case cfg.BacklogTimeout <= 0:
		return tg, fmt.Errorf("the backlog timeout must be positive, got %s", cfg.BacklogTimeout)
	case cfg.MaxInFlight < 1:
		return tg, fmt.Errorf("max in flight must be at least 1, got %d", cfg.MaxInFlight)
	case cfg.Tick < time.Microsecond || cfg.Tick > 10*time.Millisecond:
		return tg, fmt.Errorf("the tick must be 1µs..10ms, got %s", cfg.Tick)
	case cfg.Workers < 0:
		return tg, fmt.Errorf("workers must be 0 (GOMAXPROCS) or more, got %d", cfg.Workers)
	}
	return tg, nil
}
