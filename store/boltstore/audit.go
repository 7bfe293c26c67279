package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// bucketAudit holds the audit log: 8-byte big-endian Unix nanoseconds and
// an 8-byte sequence -> JSON AuditEntry. The entry's ID is the key in hex,
// so IDs sort as the entries do. The log is not capped.
var bucketAudit = []byte("audit")

// AppendAudit implements store.AuditLog, in one transaction.
func (s *DB) AppendAudit(ctx context.Context, entries ...store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *bolt.Tx) (*store.Change, error) {
		b, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			seq, err := b.NextSequence()
			if err != nil {
				return nil, err
			}
			var key [16]byte
			binary.BigEndian.PutUint64(key[:8], uint64(e.Time.UnixNano()))
			binary.BigEndian.PutUint64(key[8:], seq)
			e.ID = hex.EncodeToString(key[:])
			data, err := json.Marshal(&e)
			if err != nil {
				return nil, err
			}
			if err := b.Put(key[:], data); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// ListAudit implements store.AuditLog.
func (s *DB) ListAudit(ctx context.Context, q store.AuditQuery) (*store.AuditPage, error) {
	var after []byte
	if q.Cursor != "" {
		b, err := hex.DecodeString(q.Cursor)
		if err != nil || len(b) != 16 {
			return nil, store.InvalidAuditCursor()
		}
		after = b
	}
	limit := q.PageLimit()
	page := &store.AuditPage{Entries: []*store.AuditEntry{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if after == nil {
			k, v = c.Last()
		} else {
			// Seek finds the cursor's entry or the first after it; either
			// way the page starts before it.
			if k, _ = c.Seek(after); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			var e store.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("cannot decode audit entry %x: %w", k, err)
			}
			if !q.Matches(&e) {
				continue
			}
			if len(page.Entries) == limit {
				page.NextCursor = page.Entries[limit-1].ID
				return nil
			}
			page.Entries = append(page.Entries, &e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}
