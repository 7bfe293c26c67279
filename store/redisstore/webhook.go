package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

// Webhooks (store.WebhookStore and store.DeliveryStore) live under the
// hash tag {wh}: the definitions, the stored offsets of the event
// sources, and per webhook its outbox, dead letters, attempt log and
// lease. One slot holds them all, so that Enqueue appends to several
// webhooks' outboxes and stores the source's offset in one script, also
// on Redis Cluster; the price is that webhook deliveries live on one
// Cluster master, which their volume (batches of up to a hundred events,
// at most the outbox cap per webhook) allows.
//
//	wh:hooks        hash  id -> JSON Webhook
//	wh:hookver      hash  id -> version (the compare-and-set of updates)
//	wh:offsets      hash  source/partition -> last offset enqueued
//	wh:seq          counter ordering outboxes and dead letters
//	wh:ob:ID        zset  batch id, scored by seq: the outbox, in order
//	wh:obd:ID       hash  batch id -> store.AppendOutboxBatch
//	wh:dl:ID        zset  dead letter id (its batch id), scored by seq
//	wh:dld:ID       hash  dead letter id -> store.AppendDeadLetter
//	wh:att:ID       list  JSON Attempt, newest first, store.MaxAttempts
//	wh:lease:ID     string the owner, expiring with the lease
type whKeys struct {
	base, hooks, hookver, offsets, seq string
}

func newWHKeys(prefix string) whKeys {
	b := prefix + ":{wh}:"
	return whKeys{base: b, hooks: b + "hooks", hookver: b + "hookver", offsets: b + "offsets", seq: b + "seq"}
}

// perHook returns the outbox, outbox data, dead letter, dead letter data,
// attempt and lease keys of a webhook.
func (k whKeys) perHook(id string) (ob, obd, dl, dld, att, lease string) {
	return k.base + "ob:" + id, k.base + "obd:" + id, k.base + "dl:" + id, k.base + "dld:" + id, k.base + "att:" + id, k.base + "lease:" + id
}

func (s *Store) wh() whKeys { return newWHKeys(s.cfg.Prefix) }

var whCreateScript = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 'exists' end
redis.call('HSET', KEYS[2], ARGV[1], '1')
return 'ok'
`)

var whUpdateScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'missing', ''} end
if cur ~= ARGV[2] then return {'version', cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return {'ok', ARGV[3]}
`)

var whDeleteScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 'missing' end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
return 'ok'
`)

// whTrimLua drops the oldest dead letters of (z, h) beyond cap and
// returns how many it dropped (in steps: unpack takes a few thousand
// values at most).
const whTrimLua = `
local function trim(z, h, cap)
  local n = redis.call('ZCARD', z) - cap
  if n <= 0 then return 0 end
  local left = n
  while left > 0 do
    local step = math.min(left, 1000)
    local ids = redis.call('ZRANGE', z, 0, step - 1)
    redis.call('ZREMRANGEBYRANK', z, 0, step - 1)
    redis.call('HDEL', h, unpack(ids))
    left = left - step
  end
  return n
end
`

// whEnqueueScript: KEYS offsets, seq, hooks, then per webhook its ob, obd,
// dl and dld. ARGV offset field (empty for none), prev, last, outbox cap,
// dead letter cap, number of batches, then per batch: the webhook's
// number (1-based), its id, the batch id, the batch's stored form and the
// JSON fields of its dead letter (when its outbox is full).
var whEnqueueScript = redis.NewScript(whTrimLua + `
if ARGV[1] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if ARGV[2] == '-1' then
    if cur then return {'stale', cur} end
  elseif cur ~= ARGV[2] then
    return {'stale', cur or ''}
  end
end
local cap, dlcap = tonumber(ARGV[4]), tonumber(ARGV[5])
local overflow, dropped = 0, 0
for i = 0, tonumber(ARGV[6]) - 1 do
  local a = 7 + i * 5
  local k = 3 + (tonumber(ARGV[a]) - 1) * 4
  local hid, id, data = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  if redis.call('HEXISTS', KEYS[3], hid) == 1 and not redis.call('ZSCORE', KEYS[k + 1], id) then
    if redis.call('ZCARD', KEYS[k + 1]) >= cap then
      overflow = overflow + 1
      local nl = string.find(data, '\n', 1, true)
      redis.call('ZADD', KEYS[k + 3], redis.call('INCR', KEYS[2]), id)
      redis.call('HSET', KEYS[k + 4], id, ARGV[a + 4] .. string.sub(data, nl))
      dropped = dropped + trim(KEYS[k + 3], KEYS[k + 4], dlcap)
    else
      redis.call('ZADD', KEYS[k + 1], redis.call('INCR', KEYS[2]), id)
      redis.call('HSET', KEYS[k + 2], id, data)
    end
  end
end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return {'ok', tostring(overflow), tostring(dropped)}
`)

var whPeekScript = redis.NewScript(`
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`)

var whLeaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

var whReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`)

// whDeadScript: KEYS hooks, seq, ob, obd, dl, dld; ARGV webhook id, dead
// letter id, stored form, cap.
var whDeadScript = redis.NewScript(whTrimLua + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[5], redis.call('INCR', KEYS[2]), ARGV[2])
redis.call('HSET', KEYS[6], ARGV[2], ARGV[3])
return trim(KEYS[5], KEYS[6], tonumber(ARGV[4]))
`)

var whTakeScript = redis.NewScript(`
local data = redis.call('HGET', KEYS[2], ARGV[1])
if not data then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return data
`)

// whRequeueScript: KEYS hooks, seq, ob, obd, dl, dld; ARGV webhook id,
// dead letter id, the dead letter as read (compare and set), the batch's
// stored form.
var whRequeueScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'missing' end
local data = redis.call('HGET', KEYS[6], ARGV[2])
if not data then return 'missing' end
if data ~= ARGV[3] then return 'changed' end
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
redis.call('ZADD', KEYS[3], 'NX', redis.call('INCR', KEYS[2]), ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[4])
return 'ok'
`)

var whAttemptScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
return 1
`)

// CreateWebhook implements store.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, w *store.Webhook) (*store.Webhook, error) {
	k := s.wh()
	for {
		w = w.Clone()
		w.ID = store.NewWebhookID()
		now := s.now()
		w.CreatedAt, w.UpdatedAt, w.Version = now, now, 1
		data, err := json.Marshal(w)
		if err != nil {
			return nil, err
		}
		res, err := whCreateScript.Run(ctx, s.c, []string{k.hooks, k.hookver}, w.ID, data).Text()
		if err != nil {
			return nil, unavailable(err)
		}
		if res == "ok" {
			return w, nil
		}
		// A random ID taken: practically never; draw another.
	}
}

// GetWebhook implements store.WebhookStore.
func (s *Store) GetWebhook(ctx context.Context, id string) (*store.Webhook, error) {
	data, err := s.c.HGet(ctx, s.wh().hooks, id).Result()
	if errors.Is(err, redis.Nil) {
		return nil, store.WebhookNotFound(id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return decodeWebhook(data)
}

func decodeWebhook(data string) (*store.Webhook, error) {
	w := &store.Webhook{}
	if err := json.Unmarshal([]byte(data), w); err != nil {
		return nil, fmt.Errorf("cannot decode stored webhook: %w", err)
	}
	return w, nil
}

// UpdateWebhook implements store.WebhookStore.
func (s *Store) UpdateWebhook(ctx context.Context, w *store.Webhook, ifVersion uint64) (*store.Webhook, error) {
	k := s.wh()
	for attempt := 0; ; attempt++ {
		cur, err := s.GetWebhook(ctx, w.ID)
		if err != nil {
			return nil, err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return nil, store.WebhookVersionMismatch(cur.Version, ifVersion)
		}
		n := w.Clone()
		n.CreatedAt, n.UpdatedAt, n.Version = cur.CreatedAt, s.now(), cur.Version+1
		data, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		res, err := whUpdateScript.Run(ctx, s.c, []string{k.hooks, k.hookver}, n.ID,
			strconv.FormatUint(cur.Version, 10), strconv.FormatUint(n.Version, 10), data).StringSlice()
		if err != nil {
			return nil, unavailable(err)
		}
		switch res[0] {
		case "ok":
			return n, nil
		case "missing":
			return nil, store.WebhookNotFound(w.ID)
		}
		if ifVersion != 0 || attempt >= 10 {
			have, _ := strconv.ParseUint(res[1], 10, 64)
			return nil, store.WebhookVersionMismatch(have, max(ifVersion, cur.Version))
		}
		// Changed between our read and our write; the caller asked for
		// an unconditional update, so read again.
	}
}

// DeleteWebhook implements store.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	k := s.wh()
	ob, obd, dl, dld, att, lease := k.perHook(id)
	res, err := whDeleteScript.Run(ctx, s.c, []string{k.hooks, k.hookver, ob, obd, dl, dld, att, lease}, id).Text()
	if err != nil {
		return unavailable(err)
	}
	if res != "ok" {
		return store.WebhookNotFound(id)
	}
	return nil
}

// ListWebhooks implements store.WebhookStore.
func (s *Store) ListWebhooks(ctx context.Context) ([]*store.Webhook, error) {
	all, err := s.c.HGetAll(ctx, s.wh().hooks).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*store.Webhook, 0, len(all))
	for _, v := range all {
		w, err := decodeWebhook(v)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	store.SortWebhooks(out)
	return out, nil
}

// Enqueue implements store.DeliveryStore in one script.
func (s *Store) Enqueue(ctx context.Context, source string, part int, prev, last int64, batches []store.OutboxBatch, lim store.DeliveryLimits) (store.EnqueueResult, error) {
	k := s.wh()
	keys := []string{k.offsets, k.seq, k.hooks}
	hookNum := map[string]int{}
	field := ""
	if source != "" {
		field = store.OffsetField(source, part)
	}
	args := []any{field, prev, last, lim.Outbox, lim.DeadLetters, len(batches)}
	for i := range batches {
		b := &batches[i]
		n, ok := hookNum[b.WebhookID]
		if !ok {
			n = len(hookNum) + 1
			hookNum[b.WebhookID] = n
			ob, obd, dl, dld, _, _ := k.perHook(b.WebhookID)
			keys = append(keys, ob, obd, dl, dld)
		}
		dead, err := json.Marshal(&store.DeadLetter{OutboxBatch: *b, Reason: store.DeadBacklogFull,
			LastError: fmt.Sprintf("the outbox held %d batches", lim.Outbox), DeadAt: b.FirstAt})
		if err != nil {
			return store.EnqueueResult{}, err
		}
		args = append(args, n, b.WebhookID, b.ID, store.AppendOutboxBatch(nil, b), dead)
	}
	res, err := whEnqueueScript.Run(ctx, s.c, keys, args...).StringSlice()
	if err != nil {
		return store.EnqueueResult{}, unavailable(err)
	}
	if res[0] == "stale" {
		return store.EnqueueResult{}, fmt.Errorf("%w: %s is at %q, the batch continues from %d", store.ErrStale, field, res[1], prev)
	}
	var r store.EnqueueResult
	r.Overflow, _ = strconv.Atoi(res[1])
	r.DeadDropped, _ = strconv.Atoi(res[2])
	return r, nil
}

// Offset implements store.DeliveryStore.
func (s *Store) Offset(ctx context.Context, source string, part int) (int64, bool, error) {
	v, err := s.c.HGet(ctx, s.wh().offsets, store.OffsetField(source, part)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, unavailable(err)
	}
	last, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cannot decode the stored offset %q: %w", v, err)
	}
	return last, true, nil
}

// Peek implements store.DeliveryStore.
func (s *Store) Peek(ctx context.Context, webhookID string, n int) ([]store.OutboxBatch, error) {
	if n <= 0 {
		return nil, nil
	}
	ob, obd, _, _, _, _ := s.wh().perHook(webhookID)
	vals, err := whPeekScript.Run(ctx, s.c, []string{ob, obd}, n).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]store.OutboxBatch, 0, len(vals))
	for _, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue
		}
		b, err := store.DecodeOutboxBatch([]byte(data))
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, nil
}

// Ack implements store.DeliveryStore.
func (s *Store) Ack(ctx context.Context, webhookID string, batchIDs ...string) error {
	if len(batchIDs) == 0 {
		return nil
	}
	ob, obd, _, _, _, _ := s.wh().perHook(webhookID)
	members := make([]any, len(batchIDs))
	for i, id := range batchIDs {
		members[i] = id
	}
	pipe := s.c.TxPipeline()
	pipe.ZRem(ctx, ob, members...)
	pipe.HDel(ctx, obd, batchIDs...)
	_, err := pipe.Exec(ctx)
	return unavailable(err)
}

// OutboxLen implements store.DeliveryStore.
func (s *Store) OutboxLen(ctx context.Context, webhookID string) (int, error) {
	ob, _, _, _, _, _ := s.wh().perHook(webhookID)
	n, err := s.c.ZCard(ctx, ob).Result()
	return int(n), unavailable(err)
}

// Lease implements store.DeliveryStore with a key that expires.
func (s *Store) Lease(ctx context.Context, webhookID, owner string, ttl time.Duration) (bool, error) {
	_, _, _, _, _, lease := s.wh().perHook(webhookID)
	n, err := whLeaseScript.Run(ctx, s.c, []string{lease}, owner, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, unavailable(err)
	}
	return n == 1, nil
}

// Release implements store.DeliveryStore.
func (s *Store) Release(ctx context.Context, webhookID, owner string) error {
	_, _, _, _, _, lease := s.wh().perHook(webhookID)
	return unavailable(whReleaseScript.Run(ctx, s.c, []string{lease}, owner).Err())
}

// AddDeadLetter implements store.DeliveryStore in one script.
func (s *Store) AddDeadLetter(ctx context.Context, d store.DeadLetter, lim store.DeliveryLimits) (int, error) {
	k := s.wh()
	ob, obd, dl, dld, _, _ := k.perHook(d.WebhookID)
	n, err := whDeadScript.Run(ctx, s.c, []string{k.hooks, k.seq, ob, obd, dl, dld}, d.WebhookID, d.ID,
		store.AppendDeadLetter(nil, &d), lim.DeadLetters).Int()
	return n, unavailable(err)
}

// ListDeadLetters implements store.DeliveryStore. The cursor is the
// sequence number of the last dead letter of the page.
func (s *Store) ListDeadLetters(ctx context.Context, webhookID string, limit int, cursor string) (*store.DeadLetterPage, error) {
	limit = store.ListOptions{Limit: limit}.PageLimit()
	maxScore := "+inf"
	if cursor != "" {
		seq, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, store.InvalidDeadLetterCursor()
		}
		maxScore = "(" + strconv.FormatUint(seq, 10)
	}
	_, _, dl, dld, _, _ := s.wh().perHook(webhookID)
	zs, err := s.c.ZRevRangeByScoreWithScores(ctx, dl, &redis.ZRangeBy{Max: maxScore, Min: "-inf", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	page := &store.DeadLetterPage{DeadLetters: []*store.DeadLetter{}}
	if len(zs) > limit {
		zs = zs[:limit]
		page.NextCursor = strconv.FormatUint(uint64(zs[limit-1].Score), 10)
	}
	if len(zs) == 0 {
		return page, nil
	}
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i], _ = z.Member.(string)
	}
	vals, err := s.c.HMGet(ctx, dld, ids...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	for _, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue // taken meanwhile
		}
		d, err := store.DecodeDeadLetter([]byte(data))
		if err != nil {
			return nil, err
		}
		page.DeadLetters = append(page.DeadLetters, d)
	}
	return page, nil
}

// TakeDeadLetter implements store.DeliveryStore.
func (s *Store) TakeDeadLetter(ctx context.Context, webhookID, id string) (*store.DeadLetter, error) {
	_, _, dl, dld, _, _ := s.wh().perHook(webhookID)
	data, err := whTakeScript.Run(ctx, s.c, []string{dl, dld}, id).Text()
	if errors.Is(err, redis.Nil) {
		return nil, store.DeadLetterNotFound(webhookID, id)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return store.DecodeDeadLetter([]byte(data))
}

// RequeueDeadLetter implements store.DeliveryStore: it reads the dead
// letter, and moves it in a script that checks it is unchanged.
func (s *Store) RequeueDeadLetter(ctx context.Context, webhookID, id string, firstAt time.Time) (*store.OutboxBatch, error) {
	k := s.wh()
	ob, obd, dl, dld, _, _ := k.perHook(webhookID)
	for attempt := 0; attempt < 10; attempt++ {
		data, err := s.c.HGet(ctx, dld, id).Result()
		if errors.Is(err, redis.Nil) {
			return nil, store.DeadLetterNotFound(webhookID, id)
		}
		if err != nil {
			return nil, unavailable(err)
		}
		d, err := store.DecodeDeadLetter([]byte(data))
		if err != nil {
			return nil, err
		}
		b := d.OutboxBatch
		b.FirstAt = firstAt
		res, err := whRequeueScript.Run(ctx, s.c, []string{k.hooks, k.seq, ob, obd, dl, dld}, webhookID, id, data,
			store.AppendOutboxBatch(nil, &b)).Text()
		if err != nil {
			return nil, unavailable(err)
		}
		switch res {
		case "ok":
			return &b, nil
		case "missing":
			return nil, store.DeadLetterNotFound(webhookID, id)
		}
	}
	return nil, store.Errorf(store.ECONFLICT, "dead letter %q keeps changing; try again", id)
}

// AddAttempt implements store.DeliveryStore.
func (s *Store) AddAttempt(ctx context.Context, webhookID string, a store.Attempt) error {
	data, err := json.Marshal(&a)
	if err != nil {
		return err
	}
	k := s.wh()
	_, _, _, _, att, _ := k.perHook(webhookID)
	return unavailable(whAttemptScript.Run(ctx, s.c, []string{k.hooks, att}, webhookID, data, store.MaxAttempts).Err())
}

// ListAttempts implements store.DeliveryStore.
func (s *Store) ListAttempts(ctx context.Context, webhookID string) ([]store.Attempt, error) {
	_, _, _, _, att, _ := s.wh().perHook(webhookID)
	vals, err := s.c.LRange(ctx, att, 0, store.MaxAttempts-1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]store.Attempt, 0, len(vals))
	for _, v := range vals {
		var a store.Attempt
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return nil, fmt.Errorf("cannot decode a stored attempt: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}
