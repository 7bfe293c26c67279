// Package redisagg keeps scan aggregates in Redis (standalone, Sentinel or
// Cluster) and reads stats back from them.
//
// Exactly once: every Kafka partition p owns one Redis hash slot, the hash
// tag {a<p>}. The counters of the events read from p, the last offset of p
// that was applied, and the event ids seen on p (for producer duplicates)
// all live under that tag, so one Lua script applies a batch and advances
// the offset atomically, also on Redis Cluster. A batch that starts at or
// before the stored offset is refused (ErrStale): a consumer restarted
// after a crash, or a consumer that lost the partition in a rebalance and
// has not noticed yet, can never add a batch twice. Kafka's own committed
// offsets are only informational.
//
// Producer duplicates: an edge that spooled a batch Kafka had in fact
// written sends it again. Edges partition by event id (see
// kafka.Balancer), so both copies land in the same partition, and the
// script keeps one bit per event id (by producer prefix and counter) for
// the dedupe window.
//
// Unique visitors are HyperLogLogs under a per-link tag {u:<link>}, so a
// range's union is one PFCOUNT. Adding a visitor twice changes nothing, so
// they are written before the script, outside the exactly-once protocol.
//
// The cost of the layout: a link's counters are spread over one hash per
// partition, so a stats read sums P hashes per bucket (pipelined).
package redisagg

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/analytics"
	"github.com/qredge/qredge/analytics/aggregate"
	"github.com/qredge/qredge/store"
)

// Config configures a Store. Get defaults from DefaultConfig.
type Config struct {
	Prefix    string // key namespace, "qredge"
	Retention aggregate.Retention
	// DedupeWindow is how long event ids are remembered to drop producer
	// duplicates; 0 turns deduplication off.
	DedupeWindow time.Duration
	// Now is the clock that key expiry is computed from; nil means
	// time.Now. Expiry is sent to Redis as a time to live from Now, so a
	// test with a fixed clock is independent of Redis's own clock.
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Prefix: "qredge", Retention: aggregate.DefaultRetention(), DedupeWindow: 24 * time.Hour}
}

// Store writes and reads aggregates. It is safe for concurrent use.
type Store struct {
	c   redis.UniversalClient
	cfg Config

	mu        sync.Mutex
	parts     []string // cached partition list for reads
	partsRead time.Time
}

// New returns a store on c.
func New(c redis.UniversalClient, cfg Config) *Store {
	d := DefaultConfig()
	if cfg.Prefix == "" {
		cfg.Prefix = d.Prefix
	}
	for i, r := range cfg.Retention {
		if r <= 0 {
			cfg.Retention[i] = d.Retention[i]
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{c: c, cfg: cfg}
}

// linkID is how a link appears in keys and sorted-set members: code, a
// '|', the domain (which can contain neither '|' nor '}'), and for links
// with an identity (aggregate.LinkKey) a '|' and the creation time.
func linkID(linkKey string) string {
	code, domain, created := aggregate.SplitLinkKey(linkKey)
	if created == 0 {
		return code + "|" + domain
	}
	return code + "|" + domain + "|" + strconv.FormatInt(created, 10)
}

// parseLinkID is the aggregate.LinkKey of a linkID.
func parseLinkID(id string) string {
	code, rest, _ := strings.Cut(id, "|")
	domain, c, _ := strings.Cut(rest, "|")
	created, _ := strconv.ParseInt(c, 10, 64)
	return aggregate.LinkKey(domain, code, created)
}

func (s *Store) partTag(p string) string { return s.cfg.Prefix + ":{a" + p + "}:" }

func (s *Store) offsetKey(p int) string { return s.partTag(strconv.Itoa(p)) + "off" }

func (s *Store) countKey(p string, g store.Granularity, start int64, link string) string {
	return s.partTag(p) + string(g.Letter()) + ":" + strconv.FormatInt(start, 10) + ":" + link
}

func (s *Store) topKey(p string, g store.Granularity, start int64, human bool) string {
	k := "top:"
	if human {
		k = "toph:"
	}
	return s.partTag(p) + k + string(g.Letter()) + ":" + strconv.FormatInt(start, 10)
}

// uniqKey names a link's visitor sketch of one bucket. Every link of a
// code and domain, legacy or with an identity, shares the hash tag
// {u:code|domain}, so a range's union is one PFCOUNT on a Cluster too.
func (s *Store) uniqKey(linkKey string, g store.Granularity, start int64, human bool) string {
	code, domain, created := aggregate.SplitLinkKey(linkKey)
	k := s.cfg.Prefix + ":{u:" + code + "|" + domain + "}:" + string(g.Letter()) + ":" + strconv.FormatInt(start, 10)
	if created != 0 {
		k += ":c" + strconv.FormatInt(created, 10)
	}
	if human {
		k += ":h"
	}
	return k
}

func (s *Store) partsKey() string { return s.cfg.Prefix + ":a:parts" }
func (s *Store) topicKey() string { return s.cfg.Prefix + ":a:topic" }

// CheckTopic records the topic the aggregates come from, and refuses a
// different one: offsets of one topic mean nothing for another.
func (s *Store) CheckTopic(ctx context.Context, topic string) error {
	if _, err := s.c.SetNX(ctx, s.topicKey(), topic, 0).Result(); err != nil {
		return fmt.Errorf("cannot record the topic in redis: %w", err)
	}
	got, err := s.c.Get(ctx, s.topicKey()).Result()
	if err != nil {
		return fmt.Errorf("cannot read the topic from redis: %w", err)
	}
	if got != topic {
		return fmt.Errorf("the aggregates under prefix %q were built from topic %q, not %q: use another --redis-prefix or the same topic", s.cfg.Prefix, got, topic)
	}
	return nil
}

// AddPartitions records partitions that hold aggregates, for readers.
func (s *Store) AddPartitions(ctx context.Context, parts []int) error {
	if len(parts) == 0 {
		return nil
	}
	args := make([]any, len(parts))
	for i, p := range parts {
		args[i] = strconv.Itoa(p)
	}
	return s.c.SAdd(ctx, s.partsKey(), args...).Err()
}

// Offset returns the last offset applied for partition p; ok is false when
// nothing was applied yet.
func (s *Store) Offset(ctx context.Context, p int) (last int64, ok bool, err error) {
	v, err := s.c.Get(ctx, s.offsetKey(p)).Int64()
	if errors.Is(err, redis.Nil) {
		return -1, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot read the offset of partition %d: %w", p, err)
	}
	return v, true, nil
}

// applyScript applies one batch of partition p atomically. KEYS[1] is the
// offset key; other keys are referred to by index. ARGV:
//
//	prev (the stored offset the batch continues, -1 for none), last, expected ('0' new / '1' duplicate per deduplicated event), n,
//	n x (seen key index, bit),
//	nh, nh x (key index, field, delta)     HINCRBY
//	nz, nz x (key index, member, delta)    ZINCRBY
//	ne, ne x (key index, milliseconds)     PEXPIRE (a time to live: <= 0 deletes)
//
// It returns {-1, stored} when the stored offset is not prev (the batch is
// stale, or Redis lost writes), {-2, actual} when the
// duplicates are not the expected ones (the caller recounts and calls
// again), {0, n} when applied. Checks come before any write, so a refused
// call changes nothing.
var applyScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1]) or '-1'
if cur ~= ARGV[1] then return {-1, cur} end
local exp = ARGV[3]
local n = tonumber(ARGV[4])
local i = 5
local seen, actual, mismatch = {}, {}, false
for e = 1, n do
  local k, bit = KEYS[tonumber(ARGV[i])], tonumber(ARGV[i+1])
  local id = k .. '/' .. bit
  local b = seen[id] or redis.call('GETBIT', k, bit)
  seen[id] = 1
  actual[e] = (b == 1) and '1' or '0'
  if actual[e] ~= string.sub(exp, e, e) then mismatch = true end
  i = i + 2
end
if mismatch then return {-2, table.concat(actual)} end
i = 5
for e = 1, n do
  if string.sub(exp, e, e) == '0' then
    redis.call('SETBIT', KEYS[tonumber(ARGV[i])], tonumber(ARGV[i+1]), 1)
  end
  i = i + 2
end
local nh = tonumber(ARGV[i]); i = i + 1
for _ = 1, nh do
  redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i+1], ARGV[i+2]); i = i + 3
end
local nz = tonumber(ARGV[i]); i = i + 1
for _ = 1, nz do
  redis.call('ZINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i+2], ARGV[i+1]); i = i + 3
end
local ne = tonumber(ARGV[i]); i = i + 1
for _ = 1, ne do
  redis.call('PEXPIRE', KEYS[tonumber(ARGV[i])], ARGV[i+1]); i = i + 2
end
redis.call('SET', KEYS[1], ARGV[2])
return {0, tostring(n)}
`)

// seenChunk is how many consecutive event counters of one producer share
// a dedupe bitmap key (and, through kafka.Balancer, a partition).
const seenChunk = analytics.IDChunk

// Apply counts the events read from partition p after offset prev (the
// stored offset the caller read or last applied, -1 for none) up to last
// (inclusive; poison messages in the range are simply absent from events)
// and records last as applied, atomically. It returns ErrStale when the
// stored offset is not prev: another member applied more, or Redis lost
// recent writes (a failover, a restart from an older snapshot). Either
// way the caller re-reads the offset and reads on from there, so nothing
// is counted twice or skipped.
func (s *Store) Apply(ctx context.Context, p int, prev, last int64, events []analytics.Decoded) (aggregate.Result, error) {
	if last <= prev {
		return aggregate.Result{}, fmt.Errorf("BUG: batch %d..%d", prev, last)
	}
	ps := strconv.Itoa(p)
	all := aggregate.NewDelta()
	for i := range events {
		all.Add(&events[i])
	}
	if err := s.addUniques(ctx, all); err != nil {
		return aggregate.Result{}, err
	}
	// Which events take part in deduplication, and their bitmap slots.
	dedupe := s.cfg.DedupeWindow > 0
	var seenIdx []int // index into events of deduplicated events
	if dedupe {
		for i := range events {
			if events[i].ID != ([16]byte{}) {
				seenIdx = append(seenIdx, i)
			}
		}
	}
	expected := make([]byte, len(seenIdx))
	for i := range expected {
		expected[i] = '0'
	}
	for attempt := 0; ; attempt++ {
		d := all
		if strings.IndexByte(string(expected), '1') >= 0 {
			d = aggregate.NewDelta()
			dup := make(map[int]bool)
			for j, i := range seenIdx {
				if expected[j] == '1' {
					dup[i] = true
				}
			}
			for i := range events {
				if !dup[i] {
					d.Add(&events[i])
				}
			}
		}
		keys, args := s.buildApply(ps, prev, last, events, seenIdx, expected, d)
		res, err := applyScript.Run(ctx, s.c, keys, args...).Slice()
		if err != nil {
			return aggregate.Result{}, fmt.Errorf("cannot apply a batch of partition %d: %w", p, err)
		}
		if len(res) != 2 {
			return aggregate.Result{}, fmt.Errorf("BUG: apply script returned %v", res)
		}
		code, _ := res[0].(int64)
		val, _ := res[1].(string)
		switch code {
		case 0:
			dups := strings.Count(string(expected), "1")
			return aggregate.Result{Applied: len(events) - dups, Duplicates: dups}, nil
		case -1:
			return aggregate.Result{}, fmt.Errorf("partition %d batch after %d up to %d, stored offset %s: %w", p, prev, last, val, aggregate.ErrStale)
		case -2:
			if len(val) != len(expected) || attempt > 3 {
				return aggregate.Result{}, fmt.Errorf("BUG: duplicate check of partition %d did not settle (%d events, %q)", p, len(expected), val)
			}
			expected = []byte(val)
		default:
			return aggregate.Result{}, fmt.Errorf("BUG: apply script returned %v", res)
		}
	}
}

// buildApply computes the script's keys and arguments: the dedupe bits of
// events[seenIdx] and the counters of d (the events not expected to be
// duplicates).
func (s *Store) buildApply(ps string, prev, last int64, events []analytics.Decoded, seenIdx []int, expected []byte, d *aggregate.Delta) ([]string, []any) {
	keys := []string{s.partTag(ps) + "off"}
	keyIdx := map[string]int{}
	index := func(k string) int {
		if i, ok := keyIdx[k]; ok {
			return i
		}
		keys = append(keys, k)
		keyIdx[k] = len(keys)
		return len(keys)
	}
	args := []any{strconv.FormatInt(prev, 10), last, string(expected), len(seenIdx)}
	now := s.cfg.Now()
	expire := map[int]int64{} // key index: time to live in milliseconds
	seenExpire := s.cfg.DedupeWindow.Milliseconds()
	for _, i := range seenIdx {
		id := events[i].ID
		ctr := binary.BigEndian.Uint64(id[8:])
		k := s.partTag(ps) + "seen:" + hex.EncodeToString(id[:8]) + ":" + strconv.FormatUint(ctr/seenChunk, 16)
		ki := index(k)
		expire[ki] = seenExpire
		args = append(args, ki, ctr%seenChunk)
	}
	var hargs, zargs []any
	nh, nz := 0, 0
	for bk, m := range d.Counts {
		link := linkID(bk.Link)
		ck := index(s.countKey(ps, bk.G, bk.Start, link))
		at := s.ttl(now, bk.G, bk.Start)
		expire[ck] = at
		for f, v := range m {
			hargs = append(hargs, ck, f, v)
			nh++
		}
		if t := aggregate.Total(m, false); t > 0 {
			zk := index(s.topKey(ps, bk.G, bk.Start, false))
			expire[zk] = at
			zargs = append(zargs, zk, link, t)
			nz++
		}
		if h := m["h"]; h > 0 {
			zk := index(s.topKey(ps, bk.G, bk.Start, true))
			expire[zk] = at
			zargs = append(zargs, zk, link, h)
			nz++
		}
	}
	args = append(args, nh)
	args = append(args, hargs...)
	args = append(args, nz)
	args = append(args, zargs...)
	args = append(args, len(expire))
	for k, at := range expire {
		args = append(args, k, at)
	}
	return keys, args
}

// ttl returns how many milliseconds from now the bucket of granularity g
// starting at start (Unix seconds) is kept; <= 0 when its retention has
// ended.
func (s *Store) ttl(now time.Time, g store.Granularity, start int64) int64 {
	return time.Unix(s.cfg.Retention.ExpireAt(g, start), 0).Sub(now).Milliseconds()
}

// addUniques adds the events' visitor hashes to the HyperLogLogs.
func (s *Store) addUniques(ctx context.Context, d *aggregate.Delta) error {
	if len(d.Uniques) == 0 {
		return nil
	}
	pipe := s.c.Pipeline()
	now := s.cfg.Now()
	for bk, v := range d.Uniques {
		ttl := time.Duration(s.ttl(now, bk.G, bk.Start)) * time.Millisecond
		for _, human := range []bool{false, true} {
			hs := v.All
			if human {
				hs = v.Human
			}
			if len(hs) == 0 {
				continue
			}
			k := s.uniqKey(bk.Link, bk.G, bk.Start, human)
			els := make([]any, len(hs))
			for i, h := range hs {
				els[i] = strconv.FormatUint(h, 16)
			}
			pipe.PFAdd(ctx, k, els...)
			pipe.PExpire(ctx, k, ttl) // a ttl <= 0 (past its retention) deletes it
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("cannot add unique visitors: %w", err)
	}
	return nil
}
