package redisagg

import (
	"context"
	"strings"
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
	// Every link of the code and domain: the legacy one and those with an
	// identity (code|domain|created).
	legacy := linkID(store.LinkKey(domain, code))
	countPat := s.cfg.Prefix + ":{a*}:?:*:" + legacy
	patterns := []string{
		countPat,                               // legacy counters
		countPat + "|*",                        // counters of links with an identity
		s.cfg.Prefix + ":{u:" + legacy + "}:*", // unique visitors, all of them
	}
	n := 0
	var toDelete []string
	var tops []string
	members := map[string]bool{legacy: true}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		for i, pat := range append(patterns, s.cfg.Prefix+":{a*}:top*") {
			it := c.Scan(ctx, 0, pat, 1000).Iterator()
			for it.Next(ctx) {
				k := it.Val()
				switch i {
				case 0, 1:
					// The key ends in the link's id: the member to take
					// out of the top lists.
					if j := strings.LastIndex(k, ":"+legacy); j >= 0 {
						members[k[j+1:]] = true
					}
					toDelete = append(toDelete, k)
				case 2:
					toDelete = append(toDelete, k)
				default:
					tops = append(tops, k)
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
	ids := make([]any, 0, len(members))
	for m := range members {
		ids = append(ids, m)
	}
	// One command per key: on a Cluster the keys are in many slots.
	pipe := s.c.Pipeline()
	for _, k := range toDelete {
		pipe.Unlink(ctx, k)
	}
	for _, k := range tops {
		pipe.ZRem(ctx, k, ids...)
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
