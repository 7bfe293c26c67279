package redisagg

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

var _ store.StatsPurger = (*Store)(nil)

// PurgeStats implements store.StatsPurger. The counters of a link live in
// every partition's hash slot, one hash per bucket, and its visitors under
// its own tag, so it scans for their keys (on every master of a Cluster):
// this is an operator's occasional request, not a hot path. It also takes
// the link out of the top lists. A consumer applying a batch that still
// holds scans of the link counts them again; deleting the link first stops
// new ones.
func (s *Store) PurgeStats(ctx context.Context, domain, code string) (int, error) {
	link := linkID(store.LinkKey(domain, code))
	patterns := []string{
		s.cfg.Prefix + ":{a*}:?:*:" + link,   // counters
		s.cfg.Prefix + ":{u:" + link + "}:*", // unique visitors
	}
	n := 0
	var toDelete []string
	var tops []string
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		for _, pat := range append(patterns, s.cfg.Prefix+":{a*}:top*") {
			it := c.Scan(ctx, 0, pat, 1000).Iterator()
			for it.Next(ctx) {
				if pat == patterns[0] || pat == patterns[1] {
					toDelete = append(toDelete, it.Val())
				} else {
					tops = append(tops, it.Val())
				}
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs the callbacks concurrently
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, m)
		})
	} else {
		err = scan(ctx, s.c)
	}
	if err != nil {
		return 0, unavailable(err)
	}
	// One command per key: on a Cluster the keys are in many slots.
	pipe := s.c.Pipeline()
	for _, k := range toDelete {
		pipe.Unlink(ctx, k)
	}
	for _, k := range tops {
		pipe.ZRem(ctx, k, link)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil { // UNLINK and ZREM never answer nil
		return 0, unavailable(err)
	}
	for i := range toDelete {
		n += int(cmds[i].(*redis.IntCmd).Val())
	}
	return n, nil
}
