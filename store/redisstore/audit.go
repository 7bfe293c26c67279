package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

// The audit log is a Redis Stream of its own, prefix + ":audit" (outside
// the {l} dataset: it is written after the change, not in its script),
// capped at about AuditMaxLen entries, the oldest dropped first. An entry's
// ID is its stream ID.
const AuditMaxLen = 1000000

// auditScanMax bounds the entries one ListAudit reads: a page with a filter
// that matches rarely may come back short, with a cursor to go on.
const auditScanMax = 10000

func (s *Store) auditKey() string { return s.cfg.Prefix + ":audit" }

// AppendAudit implements store.AuditLog, in one pipeline.
func (s *Store) AppendAudit(ctx context.Context, entries ...store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			e.ID = ""
			data, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			p.XAdd(ctx, &redis.XAddArgs{Stream: s.auditKey(), MaxLen: AuditMaxLen, Approx: true, Values: []any{"e", data}})
		}
		return nil
	})
	if err != nil {
		return unavailable(fmt.Errorf("cannot append to the audit log: %w", err))
	}
	return nil
}

// ListAudit implements store.AuditLog.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) (*store.AuditPage, error) {
	end := "+"
	if q.Cursor != "" {
		before, ok := streamIDBefore(q.Cursor)
		if !ok {
			return nil, store.InvalidAuditCursor()
		}
		end = before
	}
	limit := q.PageLimit()
	page := &store.AuditPage{Entries: []*store.AuditEntry{}}
	chunk := int64(limit + 1)
	if chunk < 100 {
		chunk = 100
	}
	for scanned := 0; scanned < auditScanMax; {
		msgs, err := s.c.XRevRangeN(ctx, s.auditKey(), end, "-", chunk).Result()
		if err != nil {
			return nil, unavailable(fmt.Errorf("cannot read the audit log: %w", err))
		}
		for _, m := range msgs {
			scanned++
			data, _ := m.Values["e"].(string)
			e := &store.AuditEntry{}
			if err := json.Unmarshal([]byte(data), e); err != nil {
				return nil, fmt.Errorf("cannot decode audit entry %s: %w", m.ID, err)
			}
			e.ID = m.ID
			if q.Matches(e) {
				if len(page.Entries) == limit {
					page.NextCursor = page.Entries[limit-1].ID
					return page, nil
				}
				page.Entries = append(page.Entries, e)
			}
			if scanned == auditScanMax {
				page.NextCursor = m.ID
				return page, nil
			}
		}
		if int64(len(msgs)) < chunk {
			return page, nil
		}
		var ok bool
		if end, ok = streamIDBefore(msgs[len(msgs)-1].ID); !ok {
			return page, nil
		}
	}
	return page, nil
}

// streamIDBefore returns the stream ID just before id ("ms-seq"), so that
// XREVRANGE continues after id on any Redis version.
func streamIDBefore(id string) (string, bool) {
	msS, seqS, ok := strings.Cut(id, "-")
	if !ok {
		return "", false
	}
	ms, err1 := strconv.ParseUint(msS, 10, 64)
	seq, err2 := strconv.ParseUint(seqS, 10, 64)
	if err1 != nil || err2 != nil {
		return "", false
	}
	switch {
	case seq > 0:
		return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq-1, 10), true
	case ms > 0:
		return strconv.FormatUint(ms-1, 10) + "-18446744073709551615", true
	}
	return "0-0", true // nothing is before 0-0; XREVRANGE 0-0 - finds none
}
