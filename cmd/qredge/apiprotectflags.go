package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/qredge/qredge/api"
)

// apiProtectFlags are the API's abuse limits, shared by serve and api.
type apiProtectFlags struct {
	RateLimit int
	RateBurst int
}

// defaultAPIProtectFlags returns the API's own defaults.
func defaultAPIProtectFlags() apiProtectFlags {
	def := api.DefaultConfig()
	return apiProtectFlags{RateLimit: int(def.RateLimit), RateBurst: def.RateBurst}
}

// register adds --rate-limit and --rate-burst.
func (c *apiProtectFlags) register(fs flagRegistrar) {
	fs.IntVar(&c.RateLimit, "rate-limit", c.RateLimit, "API requests per second per API key (a token bucket; the --api-key key is one key); over it, 429 with Retry-After; 0 or less turns limits off")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "API requests one key may send at once before --rate-limit applies")
}

// apply copies the flags into the API's configuration.
func (c *apiProtectFlags) apply(cfg *api.Config) {
	cfg.RateLimit, cfg.RateBurst = float64(c.RateLimit), c.RateBurst
	if c.RateLimit <= 0 {
		cfg.RateLimit = -1
	}
}

// maxRateLimitRetries is how often a client command retries a request the
// API answered 429, waiting as Retry-After says each time.
const maxRateLimitRetries = 10

// waitRetryAfter waits as a 429 answer's Retry-After says (whole seconds,
// 1 to 60; 1 when absent or unreadable), or until ctx ends.
func waitRetryAfter(ctx context.Context, resp *http.Response) error {
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 1 {
		secs = 1
	}
	secs = min(secs, 60)
	t := time.NewTimer(time.Duration(secs) * time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
