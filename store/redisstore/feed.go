package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

// Entry is one change read from the stream.
type Entry struct {
	ID     string
	Change store.Change
	Bad    error // the entry could not be decoded; Change is empty
}

// TailID returns the stream position a reader that has seen everything
// so far should read after: the last ID the stream generated (even when
// that entry was trimmed or deleted), or "0-0" when there is no stream.
func (s *Store) TailID(ctx context.Context) (string, error) {
	info, err := s.c.XInfoStream(ctx, s.k.stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return "0-0", nil
		}
		return "", unavailable(err)
	}
	if info.LastGeneratedID == "" {
		return "0-0", nil
	}
	return info.LastGeneratedID, nil
}

// ReadChanges returns up to count changes after the entry with ID after,
// waiting up to block for the first one; none when block passes.
func (s *Store) ReadChanges(ctx context.Context, after string, block time.Duration, count int64) ([]Entry, error) {
	return decodeRead(s.c.XRead(ctx, &redis.XReadArgs{Streams: []string{s.k.stream, after}, Count: count, Block: block}).Result())
}

func decodeRead(res []redis.XStream, err error) ([]Entry, error) {
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, st := range res {
		for _, m := range st.Messages {
			e, err := decodeEntry(m)
			if err != nil {
				// Skip it rather than read it again forever; the caller
				// learns of it (Bad) and reloads in full.
				e = Entry{ID: m.ID, Bad: fmt.Errorf("change %s: %w", m.ID, err)}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func decodeEntry(m redis.XMessage) (Entry, error) {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	v, err := strconv.ParseUint(str("v"), 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("bad version %q", str("v"))
	}
	code, domain, _ := strings.Cut(str("key"), "\x00")
	switch str("op") {
	case "put":
		l, err := decodeLink(str("link"), str("v"))
		if err != nil {
			return Entry{}, err
		}
		return Entry{ID: m.ID, Change: store.Change{Op: store.OpPut, Link: l, Version: v}}, nil
	case "del":
		return Entry{ID: m.ID, Change: store.Change{Op: store.OpDelete, Link: &store.Link{Code: code, Domain: domain}, Version: v}}, nil
	}
	return Entry{}, fmt.Errorf("unknown op %q", str("op"))
}

// Gap reports whether changes after the entry with ID after are missing
// from the stream: trimmed (MAXLEN), deleted, or lost with a Redis that
// came back empty. A reader must then reload in full. It also returns the
// dataset id (in the same round trip), so a reader notices a replaced
// dataset.
//
// Trimming is detected by the oldest remaining entry being newer than
// after while entries were removed: a reader that has read up to the tail
// keeps its own entry, because trimming never removes the newest entries.
func (s *Store) Gap(ctx context.Context, after string) (gap bool, dataset string, err error) {
	pipe := s.c.Pipeline()
	infoCmd := pipe.XInfoStream(ctx, s.k.stream)
	idCmd := pipe.HGet(ctx, s.k.dataset, "id")
	pipe.Exec(ctx) // errors are per command
	return gapOf(infoCmd, idCmd, after)
}

// ReadChangesChecked is ReadChanges followed by Gap for the same
// position, in one round trip: Redis runs the pipelined XINFO and HGET
// right after the (blocking) XREAD returns, so the check sees the stream
// as the read left it.
func (s *Store) ReadChangesChecked(ctx context.Context, after string, block time.Duration, count int64) (entries []Entry, gap bool, dataset string, err error) {
	pipe := s.c.Pipeline()
	readCmd := pipe.XRead(ctx, &redis.XReadArgs{Streams: []string{s.k.stream, after}, Count: count, Block: block})
	infoCmd := pipe.XInfoStream(ctx, s.k.stream)
	idCmd := pipe.HGet(ctx, s.k.dataset, "id")
	pipe.Exec(ctx) // errors are per command
	if entries, err = decodeRead(readCmd.Result()); err != nil {
		return nil, false, "", err
	}
	gap, dataset, err = gapOf(infoCmd, idCmd, after)
	return entries, gap, dataset, err
}

func gapOf(infoCmd *redis.XInfoStreamCmd, idCmd *redis.StringCmd, after string) (gap bool, dataset string, err error) {
	dataset = idCmd.Val()
	if err := idCmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return false, "", err
	}
	info, err := infoCmd.Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return after != "0-0", dataset, nil
		}
		return false, "", err
	}
	removed := info.EntriesAdded > info.Length
	if removed && info.Length > 0 && CompareIDs(info.FirstEntry.ID, after) > 0 {
		return true, dataset, nil
	}
	if removed && info.Length == 0 && CompareIDs(info.LastGeneratedID, after) > 0 {
		return true, dataset, nil
	}
	if info.MaxDeletedEntryID != "" && CompareIDs(info.MaxDeletedEntryID, after) > 0 {
		return true, dataset, nil
	}
	// A stream recreated from scratch (a new, empty Redis) restarts its IDs
	// below ours.
	if CompareIDs(info.LastGeneratedID, after) < 0 {
		return true, dataset, nil
	}
	return false, dataset, nil
}

// CompareIDs compares two stream IDs ("ms-seq") numerically.
func CompareIDs(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am < bm:
		return -1
	case am > bm:
		return 1
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	q, _ := strconv.ParseUint(seq, 10, 64)
	return m, q
}

// Subscribe implements store.ChangeFeed: fn receives, in order, every
// change committed after Subscribe returns, read from the stream by a
// goroutine that lives until Close.
func (s *Store) Subscribe(fn func(store.Change)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	after, err := s.TailID(ctx)
	if err != nil {
		after = "0-0"
	}
	go func() {
		for ctx.Err() == nil {
			entries, err := s.ReadChanges(ctx, after, time.Second, 1000)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			s.mu.Lock()
			subs := make([]func(store.Change), len(s.subs))
			copy(subs, s.subs)
			s.mu.Unlock()
			for _, e := range entries {
				if e.Bad == nil {
					for _, fn := range subs {
						fn(e.Change)
					}
				}
				after = e.ID
			}
		}
	}()
}
