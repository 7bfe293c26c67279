package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

// bulkScript creates many links, each exactly as putScript's "create" does
// (version, hashes, indexes, change entry), in one round trip, after
// checking the dataset (KEYS[6], KEYS[7]). ARGV[1] is "1" for all or
// nothing; ARGV[3] links follow as key, data, tag count and the KEYS
// positions of their tag indexes, then the three dataset arguments (see
// datasetArgs). It returns the dataset status and id, then, per link, its
// new version, "exists", or "" when an atomic call wrote nothing.
var bulkScript = redis.NewScript(datasetLua + `
local atomic = ARGV[1] == '1'
local n = tonumber(ARGV[3])
local res, items, conflict, pos = {}, {}, false, 4
for i = 1, n do
  local nt = tonumber(ARGV[pos + 2])
  items[i] = {ARGV[pos], ARGV[pos + 1], pos + 3, nt}
  pos = pos + 3 + nt
  if redis.call('HEXISTS', KEYS[2], items[i][1]) == 1 then
    res[i] = 'exists'
    conflict = true
  else
    res[i] = ''
  end
end
local ds, dsid = qredge_dataset(KEYS[6], KEYS[7], ARGV[pos], ARGV[pos + 1], ARGV[pos + 2])
if ds ~= 'ok' then return {ds, dsid} end
if conflict and atomic then
  table.insert(res, 1, dsid)
  table.insert(res, 1, 'ok')
  return res
end
for i = 1, n do
  if res[i] == '' then
    local key, data, tp, nt = items[i][1], items[i][2], items[i][3], items[i][4]
    local v = redis.call('INCR', KEYS[4])
    redis.call('HSET', KEYS[1], key, data)
    redis.call('HSET', KEYS[2], key, v)
    redis.call('ZADD', KEYS[3], 0, key)
    for j = 0, nt - 1 do redis.call('ZADD', KEYS[tonumber(ARGV[tp + j])], 0, key) end
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'op', 'put', 'key', key, 'v', v, 'link', data)
    res[i] = tostring(v)
  end
end
table.insert(res, 1, dsid)
table.insert(res, 1, 'ok')
return res
`)

// bulkChunk is how many links one script call creates when the call need
// not be atomic: Redis runs a script alone, so smaller calls keep other
// clients' latency low (1,000 links take a few milliseconds).
const bulkChunk = 1000

// CreateLinks implements store.BulkCreator. An atomic call is one script
// call (at most store.MaxBulkLinks links: Redis serves nobody else for the
// tens of milliseconds it runs); otherwise links go in calls of bulkChunk.
// Every link key shares one hash tag, so this works on Cluster too.
func (s *Store) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]*store.Link, []error, error) {
	out := make([]*store.Link, len(links))
	errs := make([]error, len(links))
	// Duplicates within the call conflict with their first occurrence:
	// the script would not see them.
	seen := make(map[string]bool, len(links))
	dup := false
	for i, l := range links {
		key := l.Key()
		if seen[key] {
			errs[i] = store.LinkExists(l.Domain, l.Code)
			dup = true
		}
		seen[key] = true
	}
	if dup && atomic {
		return out, errs, nil
	}
	chunk := bulkChunk
	if atomic {
		chunk = max(len(links), 1)
	}
	for start := 0; start < len(links); start += chunk {
		end := min(start+chunk, len(links))
		if err := s.createChunk(ctx, links[start:end], out[start:end], errs[start:end], atomic); err != nil {
			return out, errs, err // earlier chunks were created
		}
	}
	return out, errs, nil
}

// createChunk runs bulkScript for links, skipping those errs already
// refuses, and fills out and errs.
func (s *Store) createChunk(ctx context.Context, links []*store.Link, out []*store.Link, errs []error, atomic bool) error {
	keys := s.writeKeys()
	tagPos := map[string]int{}
	args := []any{"0", s.cfg.StreamMaxLen, 0}
	if atomic {
		args[0] = "1"
	}
	now := s.now()
	var sent []int
	for i, l := range links {
		if errs[i] != nil {
			continue
		}
		c := l.Clone()
		c.CreatedAt, c.UpdatedAt = now, now
		data, err := encodeLink(c)
		if err != nil {
			return err
		}
		out[i] = c
		args = append(args, c.Key(), data, len(c.Tags))
		for _, t := range c.Tags {
			k := s.k.tagPrefix + t
			p, ok := tagPos[k]
			if !ok {
				keys = append(keys, k)
				p = len(keys) // Lua's KEYS are 1-based
				tagPos[k] = p
			}
			args = append(args, p)
		}
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return nil
	}
	args[2] = len(sent)
	args = append(args, s.datasetArgs()...)
	res, err := bulkScript.Run(ctx, s.c, keys, args...).StringSlice()
	if err == nil {
		err = s.datasetResult(res[0], res[1])
	}
	if err != nil {
		for _, i := range sent {
			out[i] = nil
		}
		return unavailable(err)
	}
	res = res[2:]
	for j, i := range sent {
		switch res[j] {
		case "exists":
			out[i], errs[i] = nil, store.LinkExists(links[i].Domain, links[i].Code)
		case "":
			out[i] = nil // an atomic call that wrote nothing
		default:
			out[i].Version, _ = strconv.ParseUint(res[j], 10, 64)
		}
	}
	return nil
}

// LinksExist implements store.BulkCreator with HMGET on the version hash
// (the hash bulkScript checks), bulkChunk fields a call.
func (s *Store) LinksExist(ctx context.Context, links []*store.Link) ([]bool, error) {
	out := make([]bool, len(links))
	for start := 0; start < len(links); start += bulkChunk {
		end := min(start+bulkChunk, len(links))
		keys := make([]string, 0, end-start)
		for _, l := range links[start:end] {
			keys = append(keys, l.Key())
		}
		vals, err := s.c.HMGet(ctx, s.k.ver, keys...).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for j, v := range vals {
			out[start+j] = v != nil
		}
	}
	return out, nil
}
