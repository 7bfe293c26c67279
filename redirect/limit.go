package redirect

import "sync"

// ScanLimiter admits the scans of links with a scan limit (max_scans). The
// handler asks it only for those links, for GET requests it would
// redirect, and (unless the link counts bots) for visitors that are not
// bots; a link it refuses answers as past its limit.
type ScanLimiter interface {
	// Admit counts one scan of the link (key, created) and reports whether
	// it is within max: the first max scans are admitted, none after.
	// bots says whether bots' scans count (the link's
	// max_scans_include_bots), which decides what Load starts from.
	Admit(key string, created, max int64, bots bool) bool
}

// ScanCounter is the exact ScanLimiter of one process (qredge serve):
// counts in memory, each started from Load the first time its link is
// scanned, and saved by the caller from Dirty. A link's counts are kept
// by its identity (key and creation time), so a link deleted and created
// again starts afresh.
type ScanCounter struct {
	// Load returns the scans a link has had before this process counted
	// any (bots' too when bots).
	Load func(key string, created int64, bots bool) int64
	// Reached, when set, is called (on its own goroutine) with the count
	// once the scan that reaches a link's limit is admitted, and again
	// when a scan is refused at a limit not reported yet (the handler
	// asks only for links not marked: a mark lost to a race, or a lowered
	// limit).
	Reached func(key string, created, count int64, bots bool)

	mu     sync.Mutex
	counts map[ScanCountKey]*scanCount
}

// ScanCountKey identifies a link's count.
type ScanCountKey struct {
	Key     string
	Created int64
}

type scanCount struct {
	n        int64
	dirty    bool
	reported int64 // the limit last reported reached, 0: none
}

// Admit implements ScanLimiter.
func (c *ScanCounter) Admit(key string, created, max int64, bots bool) bool {
	k := ScanCountKey{key, created}
	c.mu.Lock()
	e := c.counts[k]
	if e == nil && c.Load != nil {
		// The first scan of a link loads its count without the lock
		// (a read of the file and of the link's stats): scans of other
		// limited links do not wait for it.
		c.mu.Unlock()
		n := c.Load(key, created, bots)
		c.mu.Lock()
		if e = c.counts[k]; e == nil {
			e = &scanCount{n: n}
		}
	}
	if e == nil {
		e = &scanCount{}
	}
	if c.counts == nil {
		c.counts = make(map[ScanCountKey]*scanCount)
	}
	c.counts[k] = e
	defer c.mu.Unlock()
	ok := e.n < max
	if ok {
		e.n++
		e.dirty = true
	}
	if e.n >= max && e.reported != max && c.Reached != nil {
		e.reported = max
		go c.Reached(key, created, e.n, bots)
	}
	return ok
}

// Dirty returns the counts changed since the last call, for the caller to
// save.
func (c *ScanCounter) Dirty() map[ScanCountKey]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[ScanCountKey]int64
	for k, e := range c.counts {
		if e.dirty {
			if out == nil {
				out = make(map[ScanCountKey]int64)
			}
			out[k], e.dirty = e.n, false
		}
	}
	return out
}
