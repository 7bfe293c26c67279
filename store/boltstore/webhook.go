package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// Webhooks (store.WebhookStore and store.DeliveryStore), in buckets made
// on first use:
//
//	webhooks   id -> JSON Webhook
//	whoffsets  source/partition -> last offset enqueued, in decimal
//	whdeliv    one bucket per webhook id, holding
//	             ob   8-byte sequence -> store.AppendOutboxBatch (the outbox, in order)
//	             obi  batch id -> its sequence in ob
//	             dl   8-byte sequence -> store.AppendDeadLetter
//	             dli  dead letter id (its batch id) -> its sequence in dl
//	             att  8-byte sequence -> JSON Attempt
//	             and the keys obn and dln, the lengths of ob and dl
//
// Each call is one transaction. Leases live in memory: the file is
// locked by one process, so only its own deliverers compete for them.
var (
	bucketWebhooks  = []byte("webhooks")
	bucketWHOffsets = []byte("whoffsets")
	bucketWHDeliv   = []byte("whdeliv")

	subOutbox     = []byte("ob")
	subOutboxIdx  = []byte("obi")
	subDead       = []byte("dl")
	subDeadIdx    = []byte("dli")
	subAttempts   = []byte("att")
	deliverySubs  = [][]byte{subOutbox, subOutboxIdx, subDead, subDeadIdx, subAttempts}
	errWHNotFound = fmt.Errorf("webhook not found")
)

// leaseTable holds the delivery leases of this process's deliverers.
type leaseTable struct {
	mu sync.Mutex
	m  map[string]lease
}

type lease struct {
	owner string
	until time.Time
}

// update runs fn in a read-write transaction.
func (s *DB) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return wrapWriteError(s.db.Update(fn))
}

// CreateWebhook implements store.WebhookStore.
func (s *DB) CreateWebhook(ctx context.Context, w *store.Webhook) (*store.Webhook, error) {
	w = w.Clone()
	now := s.now()
	w.CreatedAt, w.UpdatedAt, w.Version = now, now, 1
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketWebhooks)
		if err != nil {
			return err
		}
		for w.ID = store.NewWebhookID(); b.Get([]byte(w.ID)) != nil; w.ID = store.NewWebhookID() {
		}
		return putWebhook(b, w)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func putWebhook(b *bolt.Bucket, w *store.Webhook) error {
	data, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return b.Put([]byte(w.ID), data)
}

func getWebhook(tx *bolt.Tx, id string) (*store.Webhook, error) {
	b := tx.Bucket(bucketWebhooks)
	if b == nil || id == "" {
		return nil, store.WebhookNotFound(id)
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, store.WebhookNotFound(id)
	}
	w := &store.Webhook{}
	if err := json.Unmarshal(v, w); err != nil {
		return nil, fmt.Errorf("cannot decode stored webhook %q: %w", id, err)
	}
	return w, nil
}

// GetWebhook implements store.WebhookStore.
func (s *DB) GetWebhook(ctx context.Context, id string) (*store.Webhook, error) {
	var w *store.Webhook
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		w, err = getWebhook(tx, id)
		return err
	})
	return w, err
}

// UpdateWebhook implements store.WebhookStore.
func (s *DB) UpdateWebhook(ctx context.Context, w *store.Webhook, ifVersion uint64) (*store.Webhook, error) {
	n := w.Clone()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cur, err := getWebhook(tx, w.ID)
		if err != nil {
			return err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return store.WebhookVersionMismatch(cur.Version, ifVersion)
		}
		n.CreatedAt, n.UpdatedAt, n.Version = cur.CreatedAt, s.now(), cur.Version+1
		return putWebhook(tx.Bucket(bucketWebhooks), n)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DeleteWebhook implements store.WebhookStore.
func (s *DB) DeleteWebhook(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getWebhook(tx, id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketWebhooks).Delete([]byte(id)); err != nil {
			return err
		}
		if d := tx.Bucket(bucketWHDeliv); d != nil && d.Bucket([]byte(id)) != nil {
			return d.DeleteBucket([]byte(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.leases.mu.Lock()
	delete(s.leases.m, id)
	s.leases.mu.Unlock()
	return nil
}

// ListWebhooks implements store.WebhookStore.
func (s *DB) ListWebhooks(ctx context.Context) ([]*store.Webhook, error) {
	out := []*store.Webhook{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWebhooks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			w := &store.Webhook{}
			if err := json.Unmarshal(v, w); err != nil {
				return fmt.Errorf("cannot decode stored webhook %q: %w", k, err)
			}
			out = append(out, w)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	store.SortWebhooks(out)
	return out, nil
}

// deliveries returns the delivery bucket of an existing webhook, made if
// needed, or errWHNotFound.
func deliveries(tx *bolt.Tx, webhookID string) (*bolt.Bucket, error) {
	if hooks := tx.Bucket(bucketWebhooks); hooks == nil || webhookID == "" || hooks.Get([]byte(webhookID)) == nil {
		return nil, errWHNotFound
	}
	root, err := tx.CreateBucketIfNotExists(bucketWHDeliv)
	if err != nil {
		return nil, err
	}
	d, err := root.CreateBucketIfNotExists([]byte(webhookID))
	if err != nil {
		return nil, err
	}
	for _, name := range deliverySubs {
		if _, err := d.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readDeliveries returns the delivery bucket of a webhook in a read
// transaction, nil when there is none.
func readDeliveries(tx *bolt.Tx, webhookID string) *bolt.Bucket {
	root := tx.Bucket(bucketWHDeliv)
	if root == nil || webhookID == "" {
		return nil
	}
	return root.Bucket([]byte(webhookID))
}

func seqKey(d *bolt.Bucket) ([]byte, error) {
	n, err := d.NextSequence()
	if err != nil {
		return nil, err
	}
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k, nil
}

// A list of a webhook: the outbox or the dead letters, each an items
// bucket in order of a sequence, an index from id to sequence, and a
// count (a key of the webhook's bucket: bbolt counts keys only by walking
// them).
type list struct{ items, idx, count []byte }

var (
	outboxList = list{subOutbox, subOutboxIdx, []byte("obn")}
	deadList   = list{subDead, subDeadIdx, []byte("dln")}
)

func (l list) len(d *bolt.Bucket) int {
	v := d.Get(l.count)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

func (l list) add(d *bolt.Bucket, delta int) error {
	return d.Put(l.count, binary.BigEndian.AppendUint64(nil, uint64(max(l.len(d)+delta, 0))))
}

// put stores data under a new sequence, indexed by id, replacing what id
// held.
func (l list) put(d *bolt.Bucket, id string, data []byte) error {
	items, idx := d.Bucket(l.items), d.Bucket(l.idx)
	if old := idx.Get([]byte(id)); old != nil {
		if err := items.Delete(old); err != nil {
			return err
		}
	} else if err := l.add(d, 1); err != nil {
		return err
	}
	k, err := seqKey(d)
	if err != nil {
		return err
	}
	if err := items.Put(k, data); err != nil {
		return err
	}
	return idx.Put([]byte(id), k)
}

// delete removes id and returns what it held (nil when nothing).
func (l list) delete(d *bolt.Bucket, id string) ([]byte, error) {
	items, idx := d.Bucket(l.items), d.Bucket(l.idx)
	k := idx.Get([]byte(id))
	if k == nil {
		return nil, nil
	}
	data := append([]byte(nil), items.Get(k)...)
	if err := items.Delete(k); err != nil {
		return nil, err
	}
	if err := idx.Delete([]byte(id)); err != nil {
		return nil, err
	}
	return data, l.add(d, -1)
}

// trimDead drops the oldest dead letters beyond limit.
func trimDead(d *bolt.Bucket, limit int) (int, error) {
	n := deadList.len(d) - limit
	dropped := 0
	c := d.Bucket(subDead).Cursor()
	for k, v := c.First(); k != nil && dropped < n; k, v = c.First() {
		dead, err := store.DecodeDeadLetter(v)
		if err != nil {
			return dropped, err
		}
		if _, err := deadList.delete(d, dead.ID); err != nil {
			return dropped, err
		}
		dropped++
	}
	return dropped, nil
}

// Enqueue implements store.DeliveryStore in one transaction.
func (s *DB) Enqueue(ctx context.Context, source string, part int, prev, last int64, batches []store.OutboxBatch, lim store.DeliveryLimits) (store.EnqueueResult, error) {
	var res store.EnqueueResult
	err := s.update(ctx, func(tx *bolt.Tx) error {
		res = store.EnqueueResult{}
		var offsets *bolt.Bucket
		field := []byte(store.OffsetField(source, part))
		if source != "" {
			var err error
			if offsets, err = tx.CreateBucketIfNotExists(bucketWHOffsets); err != nil {
				return err
			}
			cur := offsets.Get(field)
			if prev == -1 && cur != nil || prev != -1 && string(cur) != strconv.FormatInt(prev, 10) {
				return fmt.Errorf("%w: %s is at %q, the batch continues from %d", store.ErrStale, field, cur, prev)
			}
		}
		for i := range batches {
			b := &batches[i]
			d, err := deliveries(tx, b.WebhookID)
			if err == errWHNotFound {
				continue
			}
			if err != nil {
				return err
			}
			if d.Bucket(subOutboxIdx).Get([]byte(b.ID)) != nil {
				continue // waiting already
			}
			if outboxList.len(d) >= lim.Outbox {
				res.Overflow++
				dead := &store.DeadLetter{OutboxBatch: *b, Reason: store.DeadBacklogFull,
					LastError: fmt.Sprintf("the outbox held %d batches", lim.Outbox), DeadAt: b.FirstAt}
				if err := deadList.put(d, b.ID, store.AppendDeadLetter(nil, dead)); err != nil {
					return err
				}
				n, err := trimDead(d, lim.DeadLetters)
				res.DeadDropped += n
				if err != nil {
					return err
				}
				continue
			}
			if err := outboxList.put(d, b.ID, store.AppendOutboxBatch(nil, b)); err != nil {
				return err
			}
		}
		if offsets != nil {
			return offsets.Put(field, []byte(strconv.FormatInt(last, 10)))
		}
		return nil
	})
	return res, err
}

// Offset implements store.DeliveryStore.
func (s *DB) Offset(ctx context.Context, source string, part int) (last int64, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketWHOffsets)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(store.OffsetField(source, part)))
		if v == nil {
			return nil
		}
		var perr error
		last, perr = strconv.ParseInt(string(v), 10, 64)
		if perr != nil {
			return fmt.Errorf("cannot decode the stored offset %q: %w", v, perr)
		}
		ok = true
		return nil
	})
	return last, ok, err
}

// Peek implements store.DeliveryStore.
func (s *DB) Peek(ctx context.Context, webhookID string, n int) ([]store.OutboxBatch, error) {
	var out []store.OutboxBatch
	err := s.db.View(func(tx *bolt.Tx) error {
		d := readDeliveries(tx, webhookID)
		if d == nil {
			return nil
		}
		c := d.Bucket(subOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			b, err := store.DecodeOutboxBatch(v)
			if err != nil {
				return err
			}
			out = append(out, *b)
		}
		return nil
	})
	return out, err
}

// Ack implements store.DeliveryStore.
func (s *DB) Ack(ctx context.Context, webhookID string, batchIDs ...string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		d := readDeliveries(tx, webhookID)
		if d == nil {
			return nil
		}
		for _, id := range batchIDs {
			if _, err := outboxList.delete(d, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// OutboxLen implements store.DeliveryStore.
func (s *DB) OutboxLen(ctx context.Context, webhookID string) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		if d := readDeliveries(tx, webhookID); d != nil {
			n = outboxList.len(d)
		}
		return nil
	})
	return n, err
}

// Lease implements store.DeliveryStore, in memory.
func (s *DB) Lease(ctx context.Context, webhookID, owner string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := time.Now()
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if l, ok := s.leases.m[webhookID]; ok && l.owner != owner && now.Before(l.until) {
		return false, nil
	}
	if s.leases.m == nil {
		s.leases.m = map[string]lease{}
	}
	s.leases.m[webhookID] = lease{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// Release implements store.DeliveryStore.
func (s *DB) Release(ctx context.Context, webhookID, owner string) error {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if l, ok := s.leases.m[webhookID]; ok && l.owner == owner {
		delete(s.leases.m, webhookID)
	}
	return nil
}

// AddDeadLetter implements store.DeliveryStore in one transaction.
func (s *DB) AddDeadLetter(ctx context.Context, dead store.DeadLetter, lim store.DeliveryLimits) (int, error) {
	dropped := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		dropped = 0
		d, err := deliveries(tx, dead.WebhookID)
		if err == errWHNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := outboxList.delete(d, dead.ID); err != nil {
			return err
		}
		if err := deadList.put(d, dead.ID, store.AppendDeadLetter(nil, &dead)); err != nil {
			return err
		}
		dropped, err = trimDead(d, lim.DeadLetters)
		return err
	})
	return dropped, err
}

// ListDeadLetters implements store.DeliveryStore. The cursor is the
// sequence of the last dead letter of the page, in decimal.
func (s *DB) ListDeadLetters(ctx context.Context, webhookID string, limit int, cursor string) (*store.DeadLetterPage, error) {
	limit = store.ListOptions{Limit: limit}.PageLimit()
	var before []byte
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil {
			return nil, store.InvalidDeadLetterCursor()
		}
		before = binary.BigEndian.AppendUint64(nil, n)
	}
	page := &store.DeadLetterPage{DeadLetters: []*store.DeadLetter{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		d := readDeliveries(tx, webhookID)
		if d == nil {
			return nil
		}
		c := d.Bucket(subDead).Cursor()
		var k, v []byte
		if before == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(before); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var lastKey []byte
		for ; k != nil; k, v = c.Prev() {
			if len(page.DeadLetters) == limit {
				page.NextCursor = strconv.FormatUint(binary.BigEndian.Uint64(lastKey), 10)
				return nil
			}
			dl, err := store.DecodeDeadLetter(v)
			if err != nil {
				return err
			}
			page.DeadLetters = append(page.DeadLetters, dl)
			lastKey = k
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// TakeDeadLetter implements store.DeliveryStore.
func (s *DB) TakeDeadLetter(ctx context.Context, webhookID, id string) (*store.DeadLetter, error) {
	var dead *store.DeadLetter
	err := s.update(ctx, func(tx *bolt.Tx) (err error) {
		dead, _, err = takeDead(tx, webhookID, id)
		return err
	})
	return dead, err
}

// takeDead removes the dead letter id of webhookID and returns it with the
// webhook's deliveries bucket.
func takeDead(tx *bolt.Tx, webhookID, id string) (*store.DeadLetter, *bolt.Bucket, error) {
	d := readDeliveries(tx, webhookID)
	if d == nil {
		return nil, nil, store.DeadLetterNotFound(webhookID, id)
	}
	data, err := deadList.delete(d, id)
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		return nil, nil, store.DeadLetterNotFound(webhookID, id)
	}
	dead, err := store.DecodeDeadLetter(data)
	return dead, d, err
}

// RequeueDeadLetter implements store.DeliveryStore in one transaction.
func (s *DB) RequeueDeadLetter(ctx context.Context, webhookID, id string, firstAt time.Time) (*store.OutboxBatch, error) {
	var b *store.OutboxBatch
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketWebhooks).Get([]byte(webhookID)) == nil {
			return store.DeadLetterNotFound(webhookID, id)
		}
		dead, d, err := takeDead(tx, webhookID, id)
		if err != nil {
			return err
		}
		b = &dead.OutboxBatch
		b.FirstAt = firstAt
		if d.Bucket(subOutboxIdx).Get([]byte(id)) != nil {
			return nil // waiting already
		}
		return outboxList.put(d, id, store.AppendOutboxBatch(nil, b))
	})
	return b, err
}

// AddAttempt implements store.DeliveryStore.
func (s *DB) AddAttempt(ctx context.Context, webhookID string, a store.Attempt) error {
	data, err := json.Marshal(&a)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		d, err := deliveries(tx, webhookID)
		if err == errWHNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		// The attempt bucket's own sequence: consecutive keys.
		att := d.Bucket(subAttempts)
		k, err := seqKey(att)
		if err != nil {
			return err
		}
		if err := att.Put(k, data); err != nil {
			return err
		}
		// Keys are sequences, so everything more than MaxAttempts
		// before this one is older than the newest MaxAttempts.
		c := att.Cursor()
		for ck, _ := c.First(); ck != nil && binary.BigEndian.Uint64(ck)+store.MaxAttempts <= binary.BigEndian.Uint64(k); ck, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListAttempts implements store.DeliveryStore.
func (s *DB) ListAttempts(ctx context.Context, webhookID string) ([]store.Attempt, error) {
	out := []store.Attempt{}
	err := s.db.View(func(tx *bolt.Tx) error {
		d := readDeliveries(tx, webhookID)
		if d == nil {
			return nil
		}
		c := d.Bucket(subAttempts).Cursor()
		for k, v := c.Last(); k != nil && len(out) < store.MaxAttempts; k, v = c.Prev() {
			var a store.Attempt
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("cannot decode a stored attempt: %w", err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
