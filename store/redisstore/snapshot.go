package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store/snapshot"
)

// Shared snapshots: an edge that starts reads the dataset from a snapshot
// in a few large values instead of every link, then the change stream
// from the snapshot's position.
//
//	{l}:snap          hash: gen (the current generation), meta (snapshot.EncodeMeta), next (generation counter)
//	{l}:snap:<gen>:<i> string: chunk i of generation gen (a snapshot frame)
//	{l}:snap:lock     string: the edge publishing a snapshot (SET NX PX)
//
// A new generation is written in full before the hash points at it; the
// chunks of the generation it replaces expire after snapshotGrace, so an
// edge still reading them finishes first.

// snapshotGrace is how long a replaced generation's chunks stay readable:
// far longer than an edge takes to read them (about a second per million
// links), and short enough that, published every minute, at most two
// generations take Redis memory at a time.
const snapshotGrace = time.Minute

func (s *Store) chunkKey(gen int64, i int) string {
	return s.k.snap + ":" + strconv.FormatInt(gen, 10) + ":" + strconv.Itoa(i)
}

// ErrNoSnapshot is returned by SnapshotMeta when Redis holds no shared
// snapshot.
var ErrNoSnapshot = errors.New("no shared snapshot in redis")

// SnapshotMeta returns the current shared snapshot's meta and generation.
func (s *Store) SnapshotMeta(ctx context.Context) (snapshot.Meta, int64, error) {
	vals, err := s.c.HMGet(ctx, s.k.snap, "gen", "meta").Result()
	if err != nil {
		return snapshot.Meta{}, 0, unavailable(err)
	}
	g, _ := vals[0].(string)
	mb, _ := vals[1].(string)
	if g == "" || mb == "" {
		return snapshot.Meta{}, 0, ErrNoSnapshot
	}
	gen, err := strconv.ParseInt(g, 10, 64)
	if err != nil {
		return snapshot.Meta{}, 0, fmt.Errorf("%w: generation %q", snapshot.ErrDamaged, g)
	}
	m, err := snapshot.DecodeMeta([]byte(mb))
	return m, gen, err
}

// SnapshotChunk returns chunk i of generation gen.
func (s *Store) SnapshotChunk(ctx context.Context, gen int64, i int) ([]byte, error) {
	b, err := s.c.Get(ctx, s.chunkKey(gen, i)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: chunk %d of generation %d is gone", snapshot.ErrDamaged, i, gen)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return b, nil
}

// LeadSnapshots takes (or, for owner, extends) the lock of the edge that
// publishes shared snapshots, for ttl. It reports whether owner holds it.
func (s *Store) LeadSnapshots(ctx context.Context, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.c.SetNX(ctx, s.k.snapLock, owner, ttl).Result()
	if err != nil {
		return false, unavailable(err)
	}
	if ok {
		return true, nil
	}
	// Extend only our own lock, atomically.
	n, err := extendLock.Run(ctx, s.c, []string{s.k.snapLock}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

var extendLock = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`)

// PublishSnapshot writes a new generation of the shared snapshot and
// points the snapshot hash at it; the previous generation's chunks expire
// after a grace period. It returns the new generation.
func (s *Store) PublishSnapshot(ctx context.Context, m snapshot.Meta, frames [][]byte) (int64, error) {
	gen, err := s.c.HIncrBy(ctx, s.k.snap, "next", 1).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	const perPipe = 8
	for i := 0; i < len(frames); i += perPipe {
		pipe := s.c.Pipeline()
		for j := i; j < min(i+perPipe, len(frames)); j++ {
			pipe.Set(ctx, s.chunkKey(gen, j), frames[j], 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			s.dropGeneration(ctx, gen, len(frames), 0)
			return 0, unavailable(err)
		}
	}
	old, oldGen, oldErr := s.SnapshotMeta(ctx)
	if err := s.c.HSet(ctx, s.k.snap, "gen", gen, "meta", snapshot.EncodeMeta(m)).Err(); err != nil {
		s.dropGeneration(ctx, gen, len(frames), 0)
		return 0, unavailable(err)
	}
	if oldErr == nil && oldGen != gen {
		s.dropGeneration(ctx, oldGen, old.Chunks, snapshotGrace)
	}
	return gen, nil
}

// dropGeneration removes (grace 0) or expires a generation's chunks.
func (s *Store) dropGeneration(ctx context.Context, gen int64, chunks int, grace time.Duration) {
	pipe := s.c.Pipeline()
	for i := range chunks {
		if grace > 0 {
			pipe.Expire(ctx, s.chunkKey(gen, i), grace)
		} else {
			pipe.Del(ctx, s.chunkKey(gen, i))
		}
	}
	pipe.Exec(ctx)
}
