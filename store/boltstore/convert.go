package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/qredge/qredge/store"
)

// keyLinkFormat, in the meta bucket, is set to formatBinary once every
// link record is in the binary form: in a new store from the start, in an
// older one when a pass of the conversion found no JSON record left. With
// it set, ConvertLinks does nothing.
var keyLinkFormat = []byte("link-format")

// The conversion rewrites at most convertBatch JSON records, or looks at
// most at convertScan records, per transaction, and then pauses for as
// long as the transaction took: writers wait for the writer lock at most
// one batch (milliseconds), and the conversion takes at most about half
// of a core.
const (
	convertBatch = 2000
	convertScan  = 20000
)

// conversion is a running ConvertLinks.
type conversion struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// ConvertLinks starts rewriting, in the background, the link records
// still in the JSON form of older files in the binary form, and logs what
// it did. Reads and writes go on meanwhile: each batch is its own
// transaction, so a crash leaves a mix of both forms, which reads fine,
// and the next ConvertLinks goes on from there. A record whose binary form
// would not read back as the same link is left as it is (and logged).
// Close stops the conversion. Call it at most once.
func (s *DB) ConvertLinks(log *slog.Logger) {
	var converted bool
	s.db.View(func(tx *bolt.Tx) error {
		converted = bytes.Equal(tx.Bucket(bucketMeta).Get(keyLinkFormat), []byte{formatBinary})
		return nil
	})
	if converted {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.conv = &conversion{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.conv.done)
		s.convert(ctx, log)
	}()
}

// stopConversion stops a running conversion and waits for it.
func (s *DB) stopConversion() {
	if s.conv != nil {
		s.conv.cancel()
		<-s.conv.done
	}
}

func (s *DB) convert(ctx context.Context, log *slog.Logger) {
	start := time.Now()
	var (
		after []byte
		st    convertStats
	)
	for {
		t := time.Now()
		var b convertStats
		err := guard("converting the links", func() (err error) {
			after, b, err = s.convertBatch(after, st.kept == 0)
			return err
		})
		if st.converted == 0 && b.converted > 0 {
			log.Info("converting stored links from JSON to the binary form in the background")
		}
		st.add(b)
		if err != nil {
			log.Error("cannot convert stored links to the binary form; the rest stay in JSON, which reads fine, and the next start goes on",
				"converted", st.converted, "err", err)
			return
		}
		if after == nil {
			break
		}
		select {
		case <-ctx.Done():
			if st.converted > 0 {
				log.Info("conversion of stored links to the binary form stopped; the next start goes on", "converted", st.converted)
			}
			return
		case <-time.After(time.Since(t)):
		}
	}
	if st.converted > 0 || st.kept > 0 {
		log.Info("stored links converted to the binary form", "converted", st.converted, "left_in_json", st.kept, "duration", time.Since(start).Round(time.Millisecond))
	}
}

type convertStats struct {
	converted int
	kept      int // records left in JSON: damaged, or not the same link in binary
}

func (a *convertStats) add(b convertStats) {
	a.converted += b.converted
	a.kept += b.kept
}

// convertBatch converts the JSON records after the key after (from the
// first when nil), in one transaction, and returns the key to go on from,
// nil at the end. At the end, when none was left in JSON over the whole
// pass (clean), it marks the store as converted.
func (s *DB) convertBatch(after []byte, clean bool) (next []byte, st convertStats, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		links := tx.Bucket(bucketLinks)
		c := links.Cursor()
		k, v := c.First()
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		type put struct{ k, v []byte }
		var puts []put
		for scanned := 0; k != nil && scanned < convertScan && len(puts) < convertBatch; k, v = c.Next() {
			scanned++
			next = k
			if len(v) > 0 && v[0] == formatBinary {
				continue
			}
			b, ok := jsonToBinary(v)
			if !ok {
				st.kept++
				continue
			}
			// bbolt's keys are valid only until a write: copy.
			puts = append(puts, put{bytes.Clone(k), b})
		}
		next = bytes.Clone(next)
		if k == nil {
			next = nil
		}
		for _, p := range puts {
			if err := links.Put(p.k, p.v); err != nil {
				return err
			}
		}
		st.converted = len(puts)
		if next == nil && clean && st.kept == 0 {
			return tx.Bucket(bucketMeta).Put(keyLinkFormat, []byte{formatBinary})
		}
		return nil
	})
	if err != nil {
		return after, convertStats{}, wrapWriteError(err)
	}
	return next, st, nil
}

// jsonToBinary returns the binary form of the JSON record v, when v
// decodes and its binary form reads back as the same link.
func jsonToBinary(v []byte) ([]byte, bool) {
	var l store.Link
	if decodeNonBinary(&l, v) != nil {
		return nil, false
	}
	b := appendLink(nil, &l)
	back, err := decodeLink(nil, b)
	if err != nil {
		return nil, false
	}
	j, err := json.Marshal(back)
	if err != nil {
		return nil, false
	}
	// v is, but for records written by hand, json.Marshal's output.
	if bytes.Equal(j, v) {
		return b, true
	}
	w, err := json.Marshal(&l)
	return b, err == nil && bytes.Equal(j, w)
}
