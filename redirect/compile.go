package redirect

import (
	"net/url"

	"github.com/qredge/qredge/store"
)

// Link is a link compiled for the hot path: everything the handler writes
// is prepared here once, when the link is loaded, not per request.
type Link struct {
	domain   []byte // lower-case host, or nil for every host
	version  uint64
	status   int
	disabled bool
	forward  bool
	dest     target
	src      *store.Link
}

// Source returns the stored link l was compiled from. Callers must not
// modify it.
func (l *Link) Source() *store.Link { return l.src }

// target is a destination URL split for query forwarding.
type target struct {
	location   []byte   // the whole URL, as the Location header
	base       []byte   // the URL before any '#'
	fragment   []byte   // "#..." or nil
	hasQuery   bool     // base already has a '?'
	queryStart int      // with hasQuery: index after the first '?'
	keys       []string // decoded query keys of the destination
}

func compileTarget(dest string) target {
	t := target{location: []byte(dest)}
	base := dest
	for i := 0; i < len(dest); i++ {
		if dest[i] == '#' {
			base, t.fragment = dest[:i], []byte(dest[i:])
			break
		}
	}
	t.base = []byte(base)
	for i := 0; i < len(base); i++ {
		if base[i] == '?' {
			t.hasQuery = true
			t.queryStart = i + 1
			if q, err := url.ParseQuery(base[i+1:]); err == nil {
				for k := range q {
					t.keys = append(t.keys, k)
				}
			}
			break
		}
	}
	return t
}

// Compile prepares a validated link for the hot path.
func Compile(l *store.Link) *Link {
	c := &Link{
		version:  l.Version,
		status:   l.Status,
		disabled: l.Disabled,
		forward:  l.ForwardQuery,
		dest:     compileTarget(l.Destination),
		src:      l,
	}
	if c.status == 0 {
		c.status = store.DefaultStatus
	}
	if l.Domain != "" {
		c.domain = []byte(l.Domain)
	}
	return c
}
