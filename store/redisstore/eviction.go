package redisstore

import (
	"context"
	"log/slog"
)

// WarnEviction warns when Redis may evict keys: an evicted offset key makes
// a partition count again from its beginning, evicted dedupe bits let
// duplicates through (the analytics aggregates on this Redis). Managed
// Redis services often refuse CONFIG: then nothing is said.
func (s *Store) WarnEviction(ctx context.Context, log *slog.Logger) {
	v, err := s.c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return
	}
	if p := v["maxmemory-policy"]; p != "" && p != "noeviction" {
		log.Warn("redis may evict keys (maxmemory-policy "+p+"): exact counts need noeviction, or a Redis of its own for analytics",
			"maxmemory_policy", p)
	}
}
