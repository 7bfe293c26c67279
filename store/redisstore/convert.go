package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Links are stored in their binary form. Links written as JSON before
// are read as they are, and ConvertLinks rewrites them in the background;
// the key {l}:encoding holds "binary" once no JSON link is left.

// convertScript replaces each link whose stored value is still the JSON
// it read (ARGV: key, old, new, ...) with its binary form; a link changed
// or deleted since is left alone (it was written in the binary form).
var convertScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i+1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+2])
    n = n + 1
  end
end
return n
`)

// ConvertLinks rewrites every link still stored as JSON in the binary
// form, batch by batch (one short script per batch of 500, so Redis
// never blocks long), without changing versions or the change stream:
// the links are the same. It is idempotent and safe under writes and
// crashes; once a pass finds no JSON left it records it, and later calls
// return at once. It returns the number of links converted.
func (s *Store) ConvertLinks(ctx context.Context) (int, error) {
	enc, err := s.c.Get(ctx, s.k.encoding).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, unavailable(err)
	}
	if enc == "binary" {
		return 0, nil
	}
	var cursor uint64
	converted := 0
	for {
		kv, next, err := s.c.HScan(ctx, s.k.links, cursor, "", 500).Result()
		if err != nil {
			return converted, unavailable(err)
		}
		var args []any
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.HasPrefix(kv[i+1], "{") {
				continue
			}
			l, err := decodeLink(kv[i+1], "0")
			if err != nil {
				return converted, fmt.Errorf("link %q: %w", kv[i], err)
			}
			bin, _ := encodeLink(l)
			args = append(args, kv[i], kv[i+1], bin)
		}
		if len(args) > 0 {
			n, err := convertScript.Run(ctx, s.c, []string{s.k.links}, args...).Int()
			if err != nil {
				return converted, unavailable(err)
			}
			converted += n
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	// HSCAN may return an element more than once, never miss one that
	// stays in the hash: every JSON link has been seen. New ones are
	// written binary.
	if err := s.c.Set(ctx, s.k.encoding, "binary", 0).Err(); err != nil {
		return converted, unavailable(err)
	}
	return converted, nil
}

// StartConvert rewrites links still stored as JSON (by an older qredge)
// in the binary form, in the background, and logs what it did; every api
// process tries, and the work is shared and idempotent. stop cancels it
// and waits.
func (s *Store) StartConvert(log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		n, err := s.ConvertLinks(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("converting links stored as JSON to the binary form stopped; the next start tries again", "converted", n, "err", err)
		case n > 0:
			log.Info("converted links stored as JSON to the binary form", "count", n, "duration", time.Since(start).Round(time.Millisecond))
		}
	}()
	return func() { cancel(); <-done }
}
