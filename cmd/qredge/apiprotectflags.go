package main

import "github.com/qredge/qredge/api"

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
