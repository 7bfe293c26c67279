package redisagg

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

// partitions returns the partitions that hold aggregates, cached for a
// few seconds.
func (s *Store) partitions(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	if s.parts != nil && time.Since(s.partsRead) < 5*time.Second {
		p := s.parts
		s.mu.Unlock()
		return p, nil
	}
	s.mu.Unlock()
	p, err := s.c.SMembers(ctx, s.partsKey()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(p)
	s.mu.Lock()
	s.parts, s.partsRead = p, time.Now()
	s.mu.Unlock()
	return p, nil
}

func unavailable(err error) error {
	return &store.Error{Code: store.EUNAVAILABLE, Message: "stats are unavailable: cannot reach redis (" + err.Error() + ")"}
}

// LinkStats implements store.StatsReader. A query for a link with an
// identity (q.Created) also reads the legacy aggregates of its code from
// the bucket of its creation on (aggregate.LegacyFrom).
func (s *Store) LinkStats(ctx context.Context, q store.StatsQuery) (*store.LinkStats, error) {
	parts, err := s.partitions(ctx)
	if err != nil {
		return nil, err
	}
	first, n := q.Buckets()
	w := q.Granularity.Seconds()
	links := []string{aggregate.QueryLinkKey(q)}
	legacy := aggregate.LinkKey(q.Domain, q.Code, 0)
	if links[0] != legacy {
		links = append(links, legacy)
	}
	legacyFrom := aggregate.LegacyFrom(q)
	pipe := s.c.Pipeline()
	counts := make([][]*redis.MapStringStringCmd, n)
	uniq := make([]*redis.IntCmd, n)
	var ukeys []string
	for i := 0; i < n; i++ {
		start := first + int64(i)*w
		var bucketKeys []string
		for j, link := range links {
			if j > 0 && start < legacyFrom {
				continue
			}
			id := linkID(link)
			for _, p := range parts {
				counts[i] = append(counts[i], pipe.HGetAll(ctx, s.countKey(p, q.Granularity, start, id)))
			}
			bucketKeys = append(bucketKeys, s.uniqKey(link, q.Granularity, start, q.ExcludeBots))
		}
		uniq[i] = pipe.PFCount(ctx, bucketKeys...)
		ukeys = append(ukeys, bucketKeys...)
	}
	var rangeUniq *redis.IntCmd
	if n > 0 {
		rangeUniq = pipe.PFCount(ctx, ukeys...) // one slot: {u:code|domain}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, unavailable(err)
	}
	buckets := make([]map[string]int64, n)
	uniques := make([]int64, n)
	for i := 0; i < n; i++ {
		for _, c := range counts[i] {
			for f, v := range c.Val() {
				x, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("bad counter %q=%q in redis: %w", f, v, err)
				}
				if buckets[i] == nil {
					buckets[i] = map[string]int64{}
				}
				buckets[i][f] += x
			}
		}
		uniques[i] = uniq[i].Val()
	}
	var ru int64
	if rangeUniq != nil {
		ru = rangeUniq.Val()
	}
	return aggregate.Assemble(q, buckets, uniques, ru), nil
}

// Top implements store.StatsReader: per partition one ZUNION of the range's
// buckets (one slot), summed over partitions.
func (s *Store) Top(ctx context.Context, q store.StatsQuery) (*store.TopStats, error) {
	parts, err := s.partitions(ctx)
	if err != nil {
		return nil, err
	}
	first, n := q.Buckets()
	w := q.Granularity.Seconds()
	pipe := s.c.Pipeline()
	var cmds []*redis.ZSliceCmd
	for _, p := range parts {
		if n == 0 {
			break
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = s.topKey(p, q.Granularity, first+int64(i)*w, q.ExcludeBots)
		}
		cmds = append(cmds, pipe.ZUnionWithScores(ctx, redis.ZStore{Keys: keys, Aggregate: "SUM"}))
	}
	if len(cmds) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, unavailable(err)
		}
	}
	totals := map[string]int64{}
	for _, c := range cmds {
		for _, z := range c.Val() {
			m, _ := z.Member.(string)
			totals[parseLinkID(m)] += int64(z.Score)
		}
	}
	return aggregate.AssembleTop(q, totals), nil
}
