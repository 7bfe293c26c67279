// Package redisstore is qredge's shared store on Redis (standalone,
// Sentinel or Cluster through go-redis's universal client): links, API keys,
// the change feed (a capped Redis Stream), and webhooks with their
// deliveries (webhook.go). It and analytics/redisagg
// (the analytics aggregates, on a client from NewClient) are the only
// packages that import go-redis.
//
// Every key of the link dataset carries the hash tag {l}, so each write is
// one Lua script that atomically checks the version, writes the link, its
// version, the listing and tag indexes and appends to the change stream,
// also on Redis Cluster. The price is that the link dataset lives on one
// Cluster master; docs/redis.md explains why that is the right trade for
// qredge (edges read from memory, writes are rare, 10M links fit one node).
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/internal/defaults"
	"github.com/qredge/qredge/store"
)

// Config configures the store.
type Config struct {
	Client ClientConfig
	// Prefix namespaces every key, such as "qredge" in "qredge:{l}:links".
	Prefix string
	// StreamMaxLen caps the change stream (approximately). An edge that
	// falls further behind reloads in full.
	StreamMaxLen int64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Prefix: "qredge", StreamMaxLen: 100000}
}

// Store implements store.LinkStore and store.KeyStore on Redis.
type Store struct {
	c      redis.UniversalClient
	mode   Mode
	cfg    Config
	k      keys
	now    func() time.Time
	mu     sync.Mutex
	subs   []func(store.Change)
	cancel context.CancelFunc
	known  atomic.Value // string: the dataset id this store has seen (dataset.go)
}

type keys struct {
	links, ver, index, seq, stream, tagPrefix, apikeys, dataset, lost string
	snap, snapLock, encoding                                          string
}

func newKeys(prefix string) keys {
	l := prefix + ":{l}:"
	return keys{
		links: l + "links", ver: l + "ver", index: l + "index", seq: l + "seq", stream: l + "changes",
		tagPrefix: l + "tag:", apikeys: prefix + ":{k}:apikeys", dataset: l + "dataset", lost: l + "lost",
		snap: l + "snap", snapLock: l + "snap:lock", encoding: l + "encoding",
	}
}

// Open connects to Redis and checks that it answers.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.c.Ping(ctx).Err(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", cfg.Client.Addr, err)
	}
	return s, nil
}

// New returns a store for cfg without connecting: processes that must
// start while Redis is down (edges serving from memory) use it.
func New(cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultConfig().Prefix
	}
	defaults.Positive(&cfg.StreamMaxLen, DefaultConfig().StreamMaxLen)
	c, mode, err := NewClient(cfg.Client)
	if err != nil {
		return nil, err
	}
	return &Store{c: c, mode: mode, cfg: cfg, k: newKeys(cfg.Prefix), now: func() time.Time { return time.Now().UTC() }}, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return unavailable(s.c.Ping(ctx).Err()) }

// Mode says whether the store runs on one server, Sentinel or Cluster.
func (s *Store) Mode() Mode { return s.mode }

// Client returns the underlying client (for health checks and tests).
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the connections and stops subscriptions.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	return s.c.Close()
}

// unavailable maps connection-level failures to EUNAVAILABLE, so the API
// answers 503 with a clear message.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var se *store.Error
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &store.Error{Code: store.EUNAVAILABLE, Message: "the link store (Redis) is unavailable; try again shortly"}
}

// putScript creates (mode "create") or updates (mode "update", when the
// stored version is ARGV[3]) a link, its indexes and its change entry,
// after checking the dataset (KEYS[6], KEYS[7]; ARGV[8..10], see
// datasetArgs). It returns a status, a value and the dataset id.
var putScript = redis.NewScript(datasetLua + `
local ds, dsid = qredge_dataset(KEYS[6], KEYS[7], ARGV[8], ARGV[9], ARGV[10])
if ds ~= 'ok' then return {ds, dsid, dsid} end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[2] == 'create' then
  if cur then return {'exists', cur, dsid} end
else
  if not cur then return {'missing', '', dsid} end
  if cur ~= ARGV[3] then return {'version', cur, dsid} end
end
local v = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], v)
redis.call('ZADD', KEYS[3], 0, ARGV[1])
local nOld = tonumber(ARGV[6])
local nNew = tonumber(ARGV[7])
for i = 1, nOld do redis.call('ZREM', KEYS[7 + i], ARGV[1]) end
for i = 1, nNew do redis.call('ZADD', KEYS[7 + nOld + i], 0, ARGV[1]) end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', 'op', 'put', 'key', ARGV[1], 'v', v, 'link', ARGV[4])
return {'ok', tostring(v), dsid}
`)

// delScript deletes a link whose stored version is ARGV[2], after
// checking the dataset (KEYS[6], KEYS[7]; ARGV[5..7]).
var delScript = redis.NewScript(datasetLua + `
local ds, dsid = qredge_dataset(KEYS[6], KEYS[7], ARGV[5], ARGV[6], ARGV[7])
if ds ~= 'ok' then return {ds, dsid, dsid} end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'missing', '', dsid} end
if cur ~= ARGV[2] then return {'version', cur, dsid} end
local v = redis.call('INCR', KEYS[4])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
for i = 1, tonumber(ARGV[4]) do redis.call('ZREM', KEYS[7 + i], ARGV[1]) end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'op', 'del', 'key', ARGV[1], 'v', v)
return {'ok', tostring(v), dsid}
`)

// writeKeys are the first keys of every write script.
func (s *Store) writeKeys() []string {
	return []string{s.k.links, s.k.ver, s.k.index, s.k.seq, s.k.stream, s.k.dataset, s.k.lost}
}

func (s *Store) tagKeys(tags []string) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = s.k.tagPrefix + t
	}
	return out
}

// encodeLink gives a link's stored form: its binary form
// (store.AppendLinkBinary) with version 0, as the version lives in the
// ver hash, set by the script.
func encodeLink(l *store.Link) (string, error) {
	c := *l
	c.Version = 0
	return string(store.AppendLinkBinary(nil, &c)), nil
}

// decodeLink reads a stored link: the binary form, or the JSON that
// links were stored as before (read until ConvertLinks has rewritten
// them).
func decodeLink(data string, version string) (*store.Link, error) {
	var l *store.Link
	if strings.HasPrefix(data, "{") {
		l = &store.Link{}
		if err := json.Unmarshal([]byte(data), l); err != nil {
			return nil, fmt.Errorf("cannot decode stored link: %w", err)
		}
	} else {
		var err error
		if l, err = store.DecodeLinkBinary([]byte(data)); err != nil {
			return nil, fmt.Errorf("cannot decode stored link: %w", err)
		}
	}
	v, err := strconv.ParseUint(version, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cannot decode stored version %q: %w", version, err)
	}
	l.Version = v
	return l, nil
}

// runPut runs putScript and returns its status and value.
func (s *Store) runPut(ctx context.Context, l *store.Link, mode string, expected uint64, oldTags []string) (string, string, error) {
	data, err := encodeLink(l)
	if err != nil {
		return "", "", err
	}
	keys := append(s.writeKeys(), s.tagKeys(oldTags)...)
	keys = append(keys, s.tagKeys(l.Tags)...)
	args := append([]any{l.Key(), mode, strconv.FormatUint(expected, 10), data,
		s.cfg.StreamMaxLen, len(oldTags), len(l.Tags)}, s.datasetArgs()...)
	res, err := putScript.Run(ctx, s.c, keys, args...).StringSlice()
	if err != nil {
		return "", "", unavailable(err)
	}
	if err := s.datasetResult(res[0], res[2]); err != nil {
		return "", "", err
	}
	return res[0], res[1], nil
}

// CreateLink implements store.LinkStore.
func (s *Store) CreateLink(ctx context.Context, l *store.Link) (*store.Link, error) {
	l = l.Clone()
	now := s.now()
	l.CreatedAt, l.UpdatedAt = now, now
	status, val, err := s.runPut(ctx, l, "create", 0, nil)
	if err != nil {
		return nil, err
	}
	if status == "exists" {
		return nil, store.LinkExists(l.Domain, l.Code)
	}
	l.Version, _ = strconv.ParseUint(val, 10, 64)
	return l, nil
}

// GetLink implements store.LinkStore.
func (s *Store) GetLink(ctx context.Context, domain, code string) (*store.Link, error) {
	key := store.LinkKey(domain, code)
	pipe := s.c.TxPipeline()
	data := pipe.HGet(ctx, s.k.links, key)
	ver := pipe.HGet(ctx, s.k.ver, key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	if data.Err() == redis.Nil || ver.Err() == redis.Nil {
		return nil, s.notFound(ctx, store.LinkNotFound(domain, code))
	}
	return decodeLink(data.Val(), ver.Val())
}

// UpdateLink implements store.LinkStore.
func (s *Store) UpdateLink(ctx context.Context, l *store.Link, ifVersion uint64) (*store.Link, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.GetLink(ctx, l.Domain, l.Code)
		if err != nil {
			return nil, err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return nil, store.VersionMismatch(cur.Version, ifVersion)
		}
		n := l.Clone()
		n.CreatedAt, n.UpdatedAt = cur.CreatedAt, s.now()
		status, val, err := s.runPut(ctx, n, "update", cur.Version, cur.Tags)
		if err != nil {
			return nil, err
		}
		switch status {
		case "ok":
			n.Version, _ = strconv.ParseUint(val, 10, 64)
			return n, nil
		case "missing":
			return nil, store.LinkNotFound(l.Domain, l.Code)
		case "version":
			if ifVersion != 0 || attempt >= 10 {
				have, _ := strconv.ParseUint(val, 10, 64)
				return nil, store.VersionMismatch(have, max(ifVersion, cur.Version))
			}
			// Someone else wrote between our read and our write; the
			// caller asked for an unconditional update, so read again.
		}
	}
}

// DeleteLink implements store.LinkStore.
func (s *Store) DeleteLink(ctx context.Context, domain, code string, ifVersion uint64) error {
	for attempt := 0; ; attempt++ {
		cur, err := s.GetLink(ctx, domain, code)
		if err != nil {
			return err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return store.VersionMismatch(cur.Version, ifVersion)
		}
		keys := append(s.writeKeys(), s.tagKeys(cur.Tags)...)
		args := append([]any{cur.Key(), strconv.FormatUint(cur.Version, 10), s.cfg.StreamMaxLen, len(cur.Tags)}, s.datasetArgs()...)
		res, err := delScript.Run(ctx, s.c, keys, args...).StringSlice()
		if err != nil {
			return unavailable(err)
		}
		if err := s.datasetResult(res[0], res[2]); err != nil {
			return err
		}
		switch res[0] {
		case "ok":
			return nil
		case "missing":
			return store.LinkNotFound(domain, code)
		case "version":
			if ifVersion != 0 || attempt >= 10 {
				have, _ := strconv.ParseUint(res[1], 10, 64)
				return store.VersionMismatch(have, max(ifVersion, cur.Version))
			}
		}
	}
}

// ListLinks implements store.LinkStore with the lexicographic index (or a
// tag's index), so listings are in key order like the embedded store's.
func (s *Store) ListLinks(ctx context.Context, opt store.ListOptions) (*store.LinkPage, error) {
	limit := opt.PageLimit()
	after, err := store.DecodeCursor(opt.Cursor)
	if err != nil {
		return nil, err
	}
	index := s.k.index
	if opt.Tag != "" {
		index = s.k.tagPrefix + opt.Tag
	}
	min := "-"
	if after != nil {
		min = "(" + string(after)
	}
	members, err := s.c.ZRangeByLex(ctx, index, &redis.ZRangeBy{Min: min, Max: "+", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	page := &store.LinkPage{Links: []*store.Link{}}
	more := len(members) > limit
	if more {
		members = members[:limit]
	}
	if len(members) == 0 {
		return page, nil
	}
	links, err := s.getMany(ctx, members)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l != nil {
			page.Links = append(page.Links, l)
		}
	}
	if more {
		page.NextCursor = store.EncodeCursor(members[len(members)-1])
	}
	return page, nil
}

// getMany returns the links with the given storage keys (nil for missing
// ones) in one round trip.
func (s *Store) getMany(ctx context.Context, keys []string) ([]*store.Link, error) {
	// MULTI/EXEC (both keys share the {l} slot): content and version are
	// read at one instant, never across a concurrent write.
	pipe := s.c.TxPipeline()
	data := pipe.HMGet(ctx, s.k.links, keys...)
	vers := pipe.HMGet(ctx, s.k.ver, keys...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, unavailable(err)
	}
	out := make([]*store.Link, len(keys))
	for i := range keys {
		d, ok1 := data.Val()[i].(string)
		v, ok2 := vers.Val()[i].(string)
		if !ok1 || !ok2 {
			continue
		}
		l, err := decodeLink(d, v)
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}

// scanBatch is how many links one HSCAN step asks for.
const scanBatch = 5000

// ForEachLink implements store.LinkStore: HSCAN over the versions hash,
// and for each batch the links and their versions in one MULTI/EXEC, so a
// link is never paired with a version it does not have. Order is Redis's.
func (s *Store) ForEachLink(ctx context.Context, fn func(*store.Link) error) error {
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, s.k.ver, cursor, "", scanBatch).Result()
		if err != nil {
			return unavailable(err)
		}
		if len(kv) > 0 {
			fields := make([]string, 0, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				fields = append(fields, kv[i])
			}
			links, err := s.getMany(ctx, fields)
			if err != nil {
				return err
			}
			for _, l := range links {
				if l == nil {
					continue // deleted between the scan and the read
				}
				if err := fn(l); err != nil {
					return err
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// Versions calls fn with the storage key and version of every link: the
// cheap part of a resync, without the links themselves.
func (s *Store) Versions(ctx context.Context, fn func(key string, version uint64)) error {
	var cursor uint64
	for {
		kv, next, err := s.c.HScan(ctx, s.k.ver, cursor, "", scanBatch*4).Result()
		if err != nil {
			return unavailable(err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v, err := strconv.ParseUint(kv[i+1], 10, 64)
			if err == nil {
				fn(kv[i], v)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// GetLinksByKey returns the links with these storage keys (nil for missing
// ones).
func (s *Store) GetLinksByKey(ctx context.Context, keys []string) ([]*store.Link, error) {
	return s.getMany(ctx, keys)
}

// LookupForHost returns the link a scan of code on domain would use: the
// one bound to domain, else the one for every host; nil when neither
// exists. One round trip.
func (s *Store) LookupForHost(ctx context.Context, domain, code string) (*store.Link, error) {
	keys := []string{store.LinkKey(domain, code)}
	if domain != "" {
		keys = append(keys, store.LinkKey("", code))
	}
	links, err := s.getMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if l != nil {
			return l, nil
		}
	}
	return nil, nil
}

// CreateKey implements store.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *store.APIKey) error {
	data, err := json.Marshal(storedKey{APIKey: *k, Hash: k.Hash})
	if err != nil {
		return err
	}
	return unavailable(s.c.HSet(ctx, s.k.apikeys, k.Hash, data).Err())
}

type storedKey struct {
	store.APIKey
	Hash string `json:"hash"`
}

func decodeKey(v string) (*store.APIKey, error) {
	var sk storedKey
	if err := json.Unmarshal([]byte(v), &sk); err != nil {
		return nil, fmt.Errorf("cannot decode stored API key: %w", err)
	}
	k := sk.APIKey
	k.Hash = sk.Hash
	return &k, nil
}

// KeyByHash implements store.KeyStore.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*store.APIKey, error) {
	v, err := s.c.HGet(ctx, s.k.apikeys, hash).Result()
	if errors.Is(err, redis.Nil) {
		return nil, store.Errorf(store.ENOTFOUND, "unknown API key")
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return decodeKey(v)
}

// ListKeys implements store.KeyStore.
func (s *Store) ListKeys(ctx context.Context) ([]*store.APIKey, error) {
	all, err := s.c.HGetAll(ctx, s.k.apikeys).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	keys := []*store.APIKey{}
	for _, v := range all {
		k, err := decodeKey(v)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].CreatedAt.Before(keys[j].CreatedAt) || keys[i].CreatedAt.Equal(keys[j].CreatedAt) && keys[i].ID < keys[j].ID
	})
	return keys, nil
}

// RevokeKey implements store.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, id string) error {
	keys, err := s.ListKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == id {
			return unavailable(s.c.HDel(ctx, s.k.apikeys, k.Hash).Err())
		}
	}
	return store.Errorf(store.ENOTFOUND, "API key %q not found", id)
}

// writeLinks writes links as they are (versions and times set) with
// their indexes in one pipeline, without change entries or checks: the
// bulk path of Seed and RestoreLinks.
func (s *Store) writeLinks(ctx context.Context, links []*store.Link) error {
	pipe := s.c.Pipeline()
	data := make([]any, 0, 2*len(links))
	vers := make([]any, 0, 2*len(links))
	members := make([]redis.Z, 0, len(links))
	for _, l := range links {
		enc, err := encodeLink(l)
		if err != nil {
			return err
		}
		key := l.Key()
		data = append(data, key, enc)
		vers = append(vers, key, l.Version)
		members = append(members, redis.Z{Member: key})
		for _, t := range l.Tags {
			pipe.ZAdd(ctx, s.k.tagPrefix+t, redis.Z{Member: key})
		}
	}
	pipe.HSet(ctx, s.k.links, data...)
	pipe.HSet(ctx, s.k.ver, vers...)
	pipe.ZAdd(ctx, s.k.index, members...)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// Seed writes links in pipelined batches without change entries and
// without version checks: for benchmarks and bulk imports into an empty
// dataset. It refuses a lost dataset, like every write. Edges see seeded links on their next load or resync (or through
// the fallback). Versions are taken from the sequence as usual.
func (s *Store) Seed(ctx context.Context, links []*store.Link) error {
	if err := s.CheckDataset(ctx); err != nil {
		return err
	}
	const batch = 2000
	for i := 0; i < len(links); i += batch {
		part := links[i:min(i+batch, len(links))]
		last, err := s.c.IncrBy(ctx, s.k.seq, int64(len(part))).Result()
		if err != nil {
			return unavailable(err)
		}
		first := uint64(last) - uint64(len(part)) + 1
		now := s.now()
		out := make([]*store.Link, len(part))
		for j, l := range part {
			c := l.Clone()
			if c.CreatedAt.IsZero() {
				c.CreatedAt, c.UpdatedAt = now, now
			}
			c.Version = first + uint64(j)
			out[j] = c
		}
		if err := s.writeLinks(ctx, out); err != nil {
			return err
		}
	}
	_, err := s.EnsureDataset(ctx) // the seeded links are a dataset
	return err
}
