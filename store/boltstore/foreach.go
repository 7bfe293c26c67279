package boltstore

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// linkBatch is a run of decoded links in key order; err, if set, is what
// stopped the read after them.
type linkBatch struct {
	links []store.Link
	err   error
}

// ForEachLink implements store.LinkStore. A damaged page or record is an
// error, not a crash.
//
// One goroutine walks the links in a read transaction and decodes them in
// batches (batchDecoder) while the caller's goroutine runs fn on the
// previous batch, so that a scan takes the longer of the two
// instead of their sum. fn is called on the caller's goroutine, in key
// order.
func (s *DB) ForEachLink(ctx context.Context, fn func(*store.Link) error) error {
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan linkBatch, 4)
	go func() {
		defer close(batches)
		send := func(b linkBatch) bool {
			select {
			case batches <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		err := guard("reading the links", func() error {
			return s.db.View(func(tx *bolt.Tx) error {
				var d batchDecoder
				c := tx.Bucket(bucketLinks).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if err := d.add(k, v); err != nil {
						// The links before the damaged one first.
						send(linkBatch{links: d.take()})
						return err
					}
					if d.full() && !send(linkBatch{links: d.take()}) {
						return ctx.Err()
					}
				}
				send(linkBatch{links: d.take()})
				return nil
			})
		})
		if err != nil {
			send(linkBatch{err: err})
		}
	}()
	defer func() {
		// Stop the reader and wait for it to end its transaction.
		cancel()
		for range batches {
		}
	}()
	for b := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range b.links {
			if err := fn(&b.links[i]); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
	return ctx.Err()
}

// LoadLinksBinary calls fn with batches of link records in the binary
// form (store.AppendLinkBinary) and their keys, on workers goroutines at
// once (GOMAXPROCS when workers <= 0), in no particular order: for a caller that builds its own form of
// each link straight from the bytes, on every core. A record still in
// JSON is decoded and encoded first; one in neither form stops the load
// with an error naming it, as do fn's errors. keys and recs are valid only
// during fn (they are bbolt's memory, held by one read transaction until
// every fn has returned).
func (s *DB) LoadLinksBinary(ctx context.Context, workers int, fn func(keys, recs [][]byte) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type batch struct{ keys, recs [][]byte }
	jobs := make(chan batch, workers)
	err := guard("reading the links", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					err := guard("loading the links", func() error {
						for b := range jobs {
							if ctx.Err() != nil {
								continue // drain
							}
							if err := fn(b.keys, b.recs); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						cancel(err)
						for range jobs {
						}
					}
				})
			}
			// Every fn returns before the transaction ends.
			defer wg.Wait()
			defer close(jobs)
			var b batch
			c := tx.Bucket(bucketLinks).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(v) == 0 || v[0] != formatBinary {
					var l store.Link
					if err := decodeNonBinary(&l, v); err != nil {
						return fmt.Errorf("cannot decode stored link %q: %w", k, err)
					}
					v = appendLink(nil, &l)
				}
				b.keys, b.recs = append(b.keys, k), append(b.recs, v)
				if len(b.recs) == linkBatchSize {
					select {
					case jobs <- b:
					case <-ctx.Done():
						return context.Cause(ctx)
					}
					b = batch{keys: make([][]byte, 0, linkBatchSize), recs: make([][]byte, 0, linkBatchSize)}
				}
			}
			if len(b.recs) > 0 {
				select {
				case jobs <- b:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return context.Cause(ctx)
}
