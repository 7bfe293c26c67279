package linkfile

import (
	"errors"
	"io"

	"github.com/qredge/qredge/store"
)

// readEach reads with read (a CSVReader's or a JSONLReader's Read) until
// the end, or until an error that is not an item's own (an E), which it
// returns. Each link read goes to onLink; an item's error goes to onErr
// with the item's link, if any, and reading goes on.
func readEach[E error](read func() (*store.Link, error), onLink func(*store.Link), onErr func(E, *store.Link)) error {
	for {
		l, err := read()
		if err == io.EOF {
			return nil
		}
		var e E
		if errors.As(err, &e) {
			onErr(e, l)
			continue
		}
		if err != nil {
			return err
		}
		onLink(l)
	}
}

// goodLinks reads with read as readEach does, and returns the links read
// up to the end or the first fatal error, skipping the items in error.
func goodLinks[E error](read func() (*store.Link, error)) []*store.Link {
	var links []*store.Link
	readEach(read, func(l *store.Link) { links = append(links, l) }, func(E, *store.Link) {})
	return links
}
