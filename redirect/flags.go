package redirect

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/qredge/qredge/store"
)

// RegisterFlags adds the hot path's flags, the same on serve and edge,
// bound to c. Countries is opened by the command from GeoIPDB.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NotFoundURL, "not-found-url", c.NotFoundURL, "redirect unknown codes here instead of answering 404")
	fs.StringVar(&c.GoneURL, "gone-url", c.GoneURL, "redirect disabled links here instead of answering 410")
	fs.DurationVar(&c.PermanentMaxAge, "permanent-max-age", c.PermanentMaxAge, "Cache-Control max-age of 301 and 308 redirects")
	fs.DurationVar(&c.TemporaryMaxAge, "temporary-max-age", c.TemporaryMaxAge, "Cache-Control max-age of 302 and 307 redirects; 0 means not cached, so every scan is counted")
	fs.StringVar(&c.CountryHeader, "country-header", c.CountryHeader, "trust this header for the visitor's country, such as CF-IPCountry (only when a CDN or ingress you run sets it)")
	fs.StringVar(&c.GeoIPDB, "geoip-db", c.GeoIPDB, "MaxMind-format database (such as GeoLite2-Country.mmdb) for the visitor's country by IP")
	fs.StringVar(&c.ClientIPHeader, "client-ip-header", c.ClientIPHeader, "trust this header for the client IP, such as X-Forwarded-For (its last entry) or X-Real-IP; requests without it use the connection's address, as do all when empty")
	fs.DurationVar(&c.VariantCookieMaxAge, "variant-cookie-max-age", c.VariantCookieMaxAge, "how long a visitor keeps an assigned A/B variant")
	fs.DurationVar(&c.PasswordCookieMaxAge, "password-cookie-max-age", c.PasswordCookieMaxAge, "how long the right password opens a protected link in that browser")
	fs.BoolVar(&c.CookieSecure, "cookie-secure", c.CookieSecure, "mark qredge's cookies Secure (when it is served over https): the A/B variant cookie of scans and the web console's session cookie")
}

// Check returns an error naming the first invalid setting, by its flag.
func (c *Config) Check() error {
	for name, v := range map[string]string{"--not-found-url": c.NotFoundURL, "--gone-url": c.GoneURL} {
		if v != "" {
			if msg := store.CheckURL(v); msg != "" {
				return fmt.Errorf("%s %q: %s", name, v, msg)
			}
		}
	}
	if c.PermanentMaxAge < 0 || c.TemporaryMaxAge < 0 {
		return errors.New("durations must not be negative")
	}
	if c.VariantCookieMaxAge < time.Second {
		return fmt.Errorf("--variant-cookie-max-age %s: must be at least 1s", c.VariantCookieMaxAge)
	}
	if c.PasswordCookieMaxAge < time.Second {
		return fmt.Errorf("--password-cookie-max-age %s: must be at least 1s", c.PasswordCookieMaxAge)
	}
	for name, h := range map[string]string{"--country-header": c.CountryHeader, "--client-ip-header": c.ClientIPHeader} {
		if h != "" && !validHeaderName(h) {
			return fmt.Errorf("%s %q: not a valid HTTP header name", name, h)
		}
	}
	return nil
}

// validHeaderName reports whether h is an HTTP header name (RFC 9110
// token).
func validHeaderName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return h != ""
}

// RegisterFlags adds the flags of lookups for codes missing from the
// table (an edge's Redis).
func (c *FallbackConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.NegativeTTL, "negative-cache-ttl", c.NegativeTTL, "how long a code found neither in memory nor in Redis is answered 404 without asking Redis again")
	fs.DurationVar(&c.Timeout, "fallback-timeout", c.Timeout, "how long a scan of a code missing from memory waits for Redis")
	fs.Int64Var(&c.MaxPerSecond, "fallback-rate", c.MaxPerSecond, "most Redis lookups per second for codes missing from memory (a storm of random codes cannot exceed it)")
}

// Check returns an error naming the first invalid setting.
func (c *FallbackConfig) Check() error {
	if c.NegativeTTL < 0 || c.Timeout <= 0 {
		return errors.New("durations must not be negative (and --fallback-timeout must be positive)")
	}
	if c.MaxPerSecond < 1 {
		return errors.New("--fallback-rate must be at least 1")
	}
	return nil
}
