package api

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
)

// RegisterFlags adds the API's flags, the same on serve and api, bound to
// c: --public-url, --api-key, --max-body-bytes, --max-bulk-body-bytes,
// --rate-limit, --rate-burst, --ui and (api only) --cookie-secure. embedded is serve's wording (one process
// with its own store, whose public URL defaults to its listener); api's
// runs over Redis beside the edges.
func (c *Config) RegisterFlags(fs *flag.FlagSet, embedded bool) {
	publicURL := "scheme and host of short links (the edges), such as https://go.example.com"
	adminKey := "an admin API key accepted in addition to stored keys; without it, a key is generated and printed when Redis has none"
	if embedded {
		publicURL = "scheme and host of short links, such as https://go.example.com (default: http://<listen address>)"
		adminKey = "an admin API key accepted in addition to stored keys; without it, a key is generated and printed on first start"
	}
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, publicURL)
	fs.StringVar(&c.AdminKey, "api-key", c.AdminKey, adminKey)
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest API request body; larger ones get 413")
	fs.Int64Var(&c.MaxBulkBodyBytes, "max-bulk-body-bytes", c.MaxBulkBodyBytes, "largest body of POST /api/v1/links/bulk (up to 10,000 links); larger ones get 413")
	fs.Var((*rateFlag)(&c.RateLimit), "rate-limit", "API requests per second per API key (a token bucket; the --api-key key is one key); over it, 429 with Retry-After; 0 or less turns limits off")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "API requests one key may send at once before --rate-limit applies")
	fs.BoolVar(&c.UI, "ui", c.UI, "serve the web console at /ui/ on this listener (sign in with an API key)")
	if !embedded {
		// serve registers it with the hot path's flags (redirect.Config)
		// and passes it on.
		fs.BoolVar(&c.CookieSecure, "cookie-secure", c.CookieSecure, "mark qredge's cookies Secure (when it is served over https): the A/B variant cookie of scans and the web console's session cookie")
	}
}

// Check returns an error naming the first invalid setting, by its flag.
func (c *Config) Check() error {
	if err := CheckPublicURL(c.PublicURL); err != nil {
		return err
	}
	if c.AdminKey != "" && len(c.AdminKey) < 16 {
		return errors.New("--api-key must be at least 16 characters; leave it empty to have one generated")
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("--max-body-bytes %d: must be at least 1024", c.MaxBodyBytes)
	}
	if c.MaxBulkBodyBytes < 1024 || c.MaxBulkBodyBytes > 1<<30 {
		return fmt.Errorf("--max-bulk-body-bytes %d: must be from 1024 to 1073741824", c.MaxBulkBodyBytes)
	}
	return nil
}

// rateFlag is --rate-limit: whole requests per second into
// Config.RateLimit, where 0 or less turns the limits off (a negative
// RateLimit; zero there means the default).
type rateFlag float64

func (r *rateFlag) String() string { return strconv.FormatFloat(float64(*r), 'g', -1, 64) }

func (r *rateFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		// The words of the flag package's own int flags.
		if errors.Is(err, strconv.ErrRange) {
			return errors.New("value out of range")
		}
		return errors.New("parse error")
	}
	*r = rateFlag(n)
	if n <= 0 {
		*r = -1
	}
	return nil
}
