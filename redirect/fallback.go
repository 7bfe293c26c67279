package redirect

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/singleflight"

	"github.com/qredge/qredge/store"
)

// Source looks up a link that is missing from the table: the link bound
// to domain, else the one for every host; nil, nil when neither exists.
type Source interface {
	LookupForHost(ctx context.Context, domain, code string) (*store.Link, error)
}

// FallbackConfig configures lookups of codes missing from the table.
type FallbackConfig struct {
	Source Source
	// NegativeTTL is how long a code found nowhere is answered 404 without
	// asking again.
	NegativeTTL time.Duration
	// Timeout bounds one lookup; the scan waits at most that long.
	Timeout time.Duration
	// MaxPerSecond caps lookups per second that find nothing (or fail),
	// for the whole process, so a storm of random codes cannot multiply
	// the load on the source. Lookups that find a link (a table still
	// loading, a link newer than the change feed) are not capped; once the
	// second's budget is spent, no lookup is made until the next second.
	MaxPerSecond int64
}

// DefaultFallbackConfig returns the defaults (without a Source).
func DefaultFallbackConfig() FallbackConfig {
	return FallbackConfig{NegativeTTL: 2 * time.Second, Timeout: 250 * time.Millisecond, MaxPerSecond: 200}
}

// negSlots is the size of the negative cache: fixed, so a storm of random
// codes cannot grow memory; collisions only cost an extra lookup.
const negSlots = 1 << 16

// fallback resolves table misses through a single-flight group, a
// negative cache and a rate limit.
type fallback struct {
	cfg    FallbackConfig
	table  *Table
	group  singleflight.Group
	neg    [negSlots]negEntry
	window atomic.Int64 // current second
	inWin  atomic.Int64 // lookups in it
	stats  FallbackStats
}

type negEntry struct {
	hash    atomic.Uint64
	expires atomic.Int64
}

// FallbackStats counts what happened to table misses.
type FallbackStats struct {
	Lookups     atomic.Uint64 // asked the source
	Found       atomic.Uint64 // found there and added to the table
	NegativeHit atomic.Uint64 // answered from the negative cache
	Limited     atomic.Uint64 // not asked: over MaxPerSecond
	Shared      atomic.Uint64 // joined a lookup already under way
	Errors      atomic.Uint64 // the source failed or timed out
}

func missHash(host, code []byte) uint64 {
	var buf [store.MaxDomainLen + 1 + store.MaxCodeLen]byte
	n := copy(buf[:], code)
	buf[n] = 0
	n++
	for _, c := range hostname(host) {
		if n == len(buf) {
			break
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	return xxhash.Sum64(buf[:n])
}

// lookup returns the link for a table miss, or nil.
func (f *fallback) lookup(host, code []byte, now int64) *Link {
	hash := missHash(host, code)
	slot := &f.neg[hash%negSlots]
	if slot.hash.Load() == hash && slot.expires.Load() > now {
		f.stats.NegativeHit.Add(1)
		return nil
	}
	sec := now / int64(time.Second)
	if w := f.window.Load(); w != sec && f.window.CompareAndSwap(w, sec) {
		f.inWin.Store(0) // only the caller that moved the window resets it
	}
	if f.inWin.Add(1) > f.cfg.MaxPerSecond {
		f.stats.Limited.Add(1)
		return nil
	}
	domain := string(lowerASCII(hostname(host)))
	key := store.LinkKey(domain, string(code))
	v, err, shared := f.group.Do(key, func() (any, error) {
		f.stats.Lookups.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
		defer cancel()
		l, err := f.cfg.Source.LookupForHost(ctx, domain, string(code))
		if err == nil && l != nil {
			// Into the table before any caller returns, so that every
			// caller sharing this lookup finds it there.
			f.stats.Found.Add(1)
			f.table.Apply(store.Change{Op: store.OpPut, Link: l, Version: l.Version})
		}
		return l, err
	})
	if shared {
		f.stats.Shared.Add(1)
	}
	l, _ := v.(*store.Link)
	if err == nil && l != nil && f.window.Load() == sec {
		// Only lookups that find nothing use up the second's budget: a
		// table still loading asks for codes that exist, as often as
		// scans need them. The budget was taken before the lookup, so
		// lookups in flight never exceed it.
		f.inWin.Add(-1)
	}
	if err != nil {
		// Not cached: a Redis hiccup must not make existing links answer
		// 404 for NegativeTTL. The rate limit still bounds the retries.
		f.stats.Errors.Add(1)
		return nil
	}
	if l == nil {
		slot.expires.Store(now + int64(f.cfg.NegativeTTL))
		slot.hash.Store(hash)
		return nil
	}
	return f.table.Lookup(host, code)
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
