// Package snapshot is the binary snapshot of a link dataset: every link
// in its binary form (store.AppendLinkBinary), cut into compressed,
// checksummed chunks that are decoded in parallel, with the change-stream
// position the snapshot covers. An edge starts from one (a shared
// snapshot in Redis, or its own file) and then reads the change stream
// from that position, instead of reading every link from Redis.
//
// The position is taken before the links are read, so a snapshot may hold
// some changes made after it (a "fuzzy" snapshot); reading the stream
// from the position applies them again, which is harmless because every
// change carries its link's version and older versions are ignored.
//
// A file is
//
//	magic(8) uvarint(len) meta(JSON) crc32c(meta)(4) chunk*
//	chunk = uvarint(len) frame
//	frame = uvarint(links) uvarint(raw length) crc32c(raw)(4) zstd(raw)
//	raw   = (uvarint(len) link)*
//
// In Redis the meta and each frame are values of their own (see
// store/redisstore). A frame or meta that fails its checksum, does not
// decompress, or holds a link that does not decode is an error: a damaged
// snapshot is refused as a whole, never half-loaded.
package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/qredge/qredge/store"
)

// Magic starts a snapshot file; its last byte is the format version.
var Magic = [8]byte{'Q', 'R', 'S', 'N', 'A', 'P', 0, 1}

// ErrDamaged is wrapped by every error about a snapshot's bytes.
var ErrDamaged = errors.New("damaged snapshot")

// DefaultChunkLinks is how many links a chunk holds: about 1-2 MB before
// compression, enough chunks to decode in parallel and few enough values
// for Redis.
const DefaultChunkLinks = 16384

// Meta describes a snapshot.
type Meta struct {
	// Dataset is the id of the link dataset the snapshot was taken from
	// (store/redisstore's dataset identity; "" for the embedded store).
	Dataset string `json:"dataset"`
	// Position is the change-stream entry the snapshot covers: every
	// change up to and including it is in the snapshot.
	Position string `json:"position"`
	// Links is the number of links, Chunks the number of chunks.
	Links  int `json:"links"`
	Chunks int `json:"chunks"`
	// MaxVersion is the highest link version in the snapshot.
	MaxVersion uint64 `json:"max_version"`
	// Created is when the snapshot was taken.
	Created time.Time `json:"created"`
	// Bytes is the total size of the chunks (compressed).
	Bytes int64 `json:"bytes"`
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	decOnce sync.Once
	dec     *zstd.Decoder
)

func encoder() *zstd.Encoder {
	encOnce.Do(func() {
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	})
	return enc
}

func decoder() *zstd.Decoder {
	decOnce.Do(func() {
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	})
	return dec
}

// Builder cuts links into chunks. It is not safe for concurrent use.
type Builder struct {
	chunkLinks int
	raw        []byte
	n          int
	frames     [][]byte
	meta       Meta
	scratch    []byte
}

// NewBuilder returns a Builder for a snapshot of dataset at position,
// with chunks of chunkLinks links (DefaultChunkLinks when 0).
func NewBuilder(dataset, position string, chunkLinks int) *Builder {
	if chunkLinks <= 0 {
		chunkLinks = DefaultChunkLinks
	}
	return &Builder{chunkLinks: chunkLinks, meta: Meta{Dataset: dataset, Position: position}}
}

// AddBinary adds one link in its binary form (store.AppendLinkBinary) with
// its version.
func (b *Builder) AddBinary(link []byte, version uint64) {
	b.raw = binary.AppendUvarint(b.raw, uint64(len(link)))
	b.raw = append(b.raw, link...)
	b.n++
	b.meta.Links++
	b.meta.MaxVersion = max(b.meta.MaxVersion, version)
	if b.n >= b.chunkLinks {
		b.cut()
	}
}

// Add adds one link.
func (b *Builder) Add(l *store.Link) {
	b.scratch = store.AppendLinkBinary(b.scratch[:0], l)
	b.AddBinary(b.scratch, l.Version)
}

func (b *Builder) cut() {
	if b.n == 0 {
		return
	}
	f := binary.AppendUvarint(nil, uint64(b.n))
	f = binary.AppendUvarint(f, uint64(len(b.raw)))
	f = binary.BigEndian.AppendUint32(f, crc32.Checksum(b.raw, crcTable))
	f = encoder().EncodeAll(b.raw, f)
	b.frames = append(b.frames, f)
	b.meta.Bytes += int64(len(f))
	b.raw, b.n = b.raw[:0], 0
}

// Finish returns the meta and the chunks' frames.
func (b *Builder) Finish() (Meta, [][]byte) {
	b.cut()
	b.meta.Chunks = len(b.frames)
	b.meta.Created = time.Now().UTC()
	return b.meta, b.frames
}

// EncodeMeta and DecodeMeta give the meta's stored form: JSON and its
// checksum.
func EncodeMeta(m Meta) []byte {
	j, _ := json.Marshal(m)
	return binary.BigEndian.AppendUint32(j, crc32.Checksum(j, crcTable))
}

// DecodeMeta decodes what EncodeMeta wrote.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) < 4 {
		return m, fmt.Errorf("%w: meta of %d bytes", ErrDamaged, len(b))
	}
	j, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(j, crcTable) != sum {
		return m, fmt.Errorf("%w: meta checksum mismatch", ErrDamaged)
	}
	if err := json.Unmarshal(j, &m); err != nil {
		return m, fmt.Errorf("%w: meta: %v", ErrDamaged, err)
	}
	if m.Links < 0 || m.Chunks < 0 {
		return m, fmt.Errorf("%w: meta counts %d links in %d chunks", ErrDamaged, m.Links, m.Chunks)
	}
	return m, nil
}

// decodeFrame decodes one frame into links, each converted by conv
// (which must copy what it keeps of its argument: buf is reused).
func decodeFrame[T any](f []byte, buf []byte, conv func([]byte) (T, error)) ([]T, []byte, error) {
	n, k := binary.Uvarint(f)
	if k <= 0 {
		return nil, buf, fmt.Errorf("%w: chunk header", ErrDamaged)
	}
	f = f[k:]
	rawLen, k := binary.Uvarint(f)
	if k <= 0 || len(f) < k+4 || rawLen > 1<<30 || n > rawLen {
		return nil, buf, fmt.Errorf("%w: chunk header", ErrDamaged)
	}
	sum := binary.BigEndian.Uint32(f[k:])
	raw, err := decoder().DecodeAll(f[k+4:], buf[:0])
	if err != nil {
		return nil, buf, fmt.Errorf("%w: chunk does not decompress: %v", ErrDamaged, err)
	}
	if uint64(len(raw)) != rawLen || crc32.Checksum(raw, crcTable) != sum {
		return nil, raw, fmt.Errorf("%w: chunk checksum mismatch", ErrDamaged)
	}
	links := make([]T, 0, n)
	for len(raw) > 0 {
		ln, k := binary.Uvarint(raw)
		if k <= 0 || ln > uint64(len(raw)-k) {
			return nil, raw, fmt.Errorf("%w: link length", ErrDamaged)
		}
		l, err := conv(raw[k : k+int(ln)])
		if err != nil {
			return nil, raw, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		links = append(links, l)
		raw = raw[k+int(ln):]
	}
	if uint64(len(links)) != n {
		return nil, raw, fmt.Errorf("%w: chunk holds %d links, header says %d", ErrDamaged, len(links), n)
	}
	return links, raw, nil
}

// Decode decodes frames on up to workers goroutines (GOMAXPROCS when 0)
// and calls add for every link, from one goroutine at a time. It stops at
// the first damaged frame; the links added before it must then be thrown
// away by the caller (a table builder is simply not swapped in).
func Decode(frames func(i int) ([]byte, error), n, workers int, add func([]*store.Link)) error {
	return DecodeFunc(frames, n, workers, store.DecodeLinkBinary, add)
}

// DecodeFunc is Decode with each link's binary form converted by conv, on
// the decoding goroutines (conv must copy what it keeps of its argument).
func DecodeFunc[T any](frames func(i int) ([]byte, error), n, workers int, conv func([]byte) (T, error), add func([]T)) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	type result struct {
		links []T
		err   error
	}
	jobs := make(chan int)
	results := make(chan result, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range jobs {
				f, err := frames(i)
				var links []T
				if err == nil {
					links, buf, err = decodeFrame(f, buf, conv)
					if err != nil {
						err = fmt.Errorf("chunk %d: %w", i, err)
					}
				}
				select {
				case results <- result{links, err}:
				case <-stop:
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	var err error
	for range n {
		r := <-results
		if r.err != nil {
			err = r.err
			break
		}
		add(r.links)
	}
	close(stop)
	wg.Wait()
	return err
}

// WriteFile writes a snapshot file atomically: a temporary file in the
// same directory, synced, then renamed over path, and the directory
// synced.
func WriteFile(path string, m Meta, frames [][]byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	w := bufio.NewWriterSize(f, 1<<20)
	meta := EncodeMeta(m)
	w.Write(Magic[:])
	w.Write(binary.AppendUvarint(nil, uint64(len(meta))))
	w.Write(meta)
	for _, fr := range frames {
		w.Write(binary.AppendUvarint(nil, uint64(len(fr))))
		w.Write(fr)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ReadFile reads a snapshot file's meta and frames (not decoded: Decode
// does that in parallel).
func ReadFile(path string) (Meta, [][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, nil, err
	}
	return Parse(b)
}

// Parse splits a snapshot file's bytes into its meta and frames.
func Parse(b []byte) (Meta, [][]byte, error) {
	if len(b) < len(Magic) || !bytes.Equal(b[:len(Magic)-1], Magic[:len(Magic)-1]) {
		return Meta{}, nil, fmt.Errorf("%w: not a qredge snapshot", ErrDamaged)
	}
	if b[len(Magic)-1] != Magic[len(Magic)-1] {
		return Meta{}, nil, fmt.Errorf("%w: snapshot format %d, this qredge reads %d", ErrDamaged, b[len(Magic)-1], Magic[len(Magic)-1])
	}
	r := bytes.NewReader(b[len(Magic):])
	next := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return nil, fmt.Errorf("%w: truncated", ErrDamaged)
		}
		off := int(r.Size()) - r.Len()
		r.Seek(int64(n), io.SeekCurrent)
		return b[len(Magic)+off : len(Magic)+off+int(n)], nil
	}
	mb, err := next()
	if err != nil {
		return Meta{}, nil, err
	}
	m, err := DecodeMeta(mb)
	if err != nil {
		return m, nil, err
	}
	frames := make([][]byte, 0, m.Chunks)
	for r.Len() > 0 {
		f, err := next()
		if err != nil {
			return m, nil, err
		}
		frames = append(frames, f)
	}
	if len(frames) != m.Chunks {
		return m, nil, fmt.Errorf("%w: %d chunks, meta says %d", ErrDamaged, len(frames), m.Chunks)
	}
	return m, frames, nil
}
