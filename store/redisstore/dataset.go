package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qredge/qredge/store"
)

// The dataset's identity.
//
// A link dataset has an id, written into {l}:dataset with its first link
// (or, for links written before ids existed, by the first process that
// sees them). Every process remembers the id it has seen: a store
// (qredge api's writes) and a Syncer (an edge's table). A Redis that comes
// back empty, or with another id, under a process that remembers one is a
// lost dataset, not a new empty one:
//
//   - writes are refused (store.EDATASETLOST, HTTP 503) by every store that
//     remembers the id, and by every store at all once an edge reported the
//     loss;
//   - an edge keeps serving the links it holds, refuses the reload that
//     would empty its table, and reports the id it lost with the highest
//     version it holds into {l}:lost;
//   - an operator either restores the dataset (Restore: the links come back
//     under the lost id, the version counter above every reported version)
//     or adopts what Redis holds now as the intended dataset (Adopt: its id
//     records the ids it supersedes, and the counter is raised the same
//     way). Edges that remember a superseded id accept the adopted dataset
//     and reload it in full.
//
// A brand-new deployment on an empty Redis has no id to remember and
// works as before: its first link creates the id.

// DatasetInfo describes the dataset in Redis.
type DatasetInfo struct {
	ID         string            // "" when Redis holds no dataset id
	Created    string            // when the id was written (RFC 3339)
	Supersedes []string          // ids an operator adopted this dataset over
	Links      int64             // links stored
	Seq        uint64            // the version counter: the last version given out
	Lost       map[string]uint64 // ids edges reported lost, with the highest version each holds
}

// SupersedesID reports whether the dataset was adopted over id.
func (d *DatasetInfo) SupersedesID(id string) bool { return slices.Contains(d.Supersedes, id) }

func newDatasetID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// datasetLua checks the dataset before a write. Scripts that include it
// call qredge_dataset(dsKey, lostKey, expected, newID, now), which returns
// 'ok' and the id (creating it with the first link of a new dataset),
// 'lost' and the id expected (Redis has no dataset while the caller, or
// an edge's report, remembers one) or 'other' and the id Redis holds (a
// dataset that neither is nor supersedes the expected one). Checks come
// before any write.
const datasetLua = `
local function qredge_dataset(ds, lost, expect, newid, now)
  local cur = redis.call('HGET', ds, 'id')
  if not cur then
    if expect ~= '' then return 'lost', expect end
    local reported = redis.call('HKEYS', lost)
    if #reported > 0 then return 'lost', reported[1] end
    redis.call('HSET', ds, 'id', newid, 'created', now)
    return 'ok', newid
  end
  if expect ~= '' and cur ~= expect then
    local sup = redis.call('HGET', ds, 'supersedes') or ''
    if not string.find(',' .. sup .. ',', ',' .. expect .. ',', 1, true) then return 'other', cur end
  end
  return 'ok', cur
end
`

// datasetArgs returns what a write script needs to check the dataset: the
// id this store remembers, a new id in case the write creates the
// dataset, and the time.
func (s *Store) datasetArgs() []any {
	return []any{s.KnownDataset(), newDatasetID(), s.now().Format(time.RFC3339)}
}

// KnownDataset returns the dataset id this store has seen ("" if none).
func (s *Store) KnownDataset() string {
	v, _ := s.known.Load().(string)
	return v
}

// datasetResult records the id a write script answered 'ok' with, and
// turns 'lost' and 'other' into store.EDATASETLOST.
func (s *Store) datasetResult(status, id string) error {
	switch status {
	case "lost":
		return DatasetLost(fmt.Sprintf("the link dataset %s is gone from Redis (Redis came back empty)", id))
	case "other":
		return DatasetLost(fmt.Sprintf("Redis holds the link dataset %s, not %s that this process has seen", id, s.KnownDataset()))
	}
	if id != "" && id != s.KnownDataset() {
		s.known.Store(id)
	}
	return nil
}

// DatasetLost returns the error writes to a lost dataset get.
func DatasetLost(cause string) error {
	return &store.Error{Code: store.EDATASETLOST, Message: cause +
		"; writes are refused until an operator restores the dataset ('qredge links import --restore') or adopts the one in Redis ('qredge dataset adopt'); see docs/runbook.md#qredgeredisdatasetlost"}
}

// Dataset reads the dataset's id and counters in one round trip.
func (s *Store) Dataset(ctx context.Context) (*DatasetInfo, error) {
	pipe := s.c.TxPipeline()
	ds := pipe.HGetAll(ctx, s.k.dataset)
	n := pipe.HLen(ctx, s.k.ver)
	seq := pipe.Get(ctx, s.k.seq)
	lost := pipe.HGetAll(ctx, s.k.lost)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	d := &DatasetInfo{ID: ds.Val()["id"], Created: ds.Val()["created"], Links: n.Val(), Lost: map[string]uint64{}}
	if sup := ds.Val()["supersedes"]; sup != "" {
		d.Supersedes = strings.Split(sup, ",")
	}
	d.Seq, _ = strconv.ParseUint(seq.Val(), 10, 64)
	for id, v := range lost.Val() {
		d.Lost[id], _ = strconv.ParseUint(v, 10, 64)
	}
	return d, nil
}

// ensureScript gives an id to a dataset that has links but none (links
// written before datasets had ids), unless an edge reported a loss. It
// returns the id, or "" for a Redis without links or id.
var ensureScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
if cur then return cur end
if redis.call('HLEN', KEYS[3]) == 0 or redis.call('HLEN', KEYS[2]) > 0 then return '' end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'created', ARGV[2])
return ARGV[1]
`)

// EnsureDataset returns the dataset's id, giving one to links stored
// before datasets had ids, and remembers it. It returns "" for a Redis
// that holds no dataset yet.
func (s *Store) EnsureDataset(ctx context.Context) (string, error) {
	id, err := ensureScript.Run(ctx, s.c, []string{s.k.dataset, s.k.lost, s.k.ver}, newDatasetID(), s.now().Format(time.RFC3339)).Text()
	if err != nil {
		return "", unavailable(err)
	}
	if id != "" && s.KnownDataset() == "" {
		s.known.Store(id)
	}
	return id, nil
}

// reportScript records that an edge lost dataset ARGV[1] while holding
// versions up to ARGV[2] (the highest report wins).
var reportScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`)

// ReportLost records that a process remembering dataset id finds it gone,
// holding versions up to maxVersion: from then on no store creates a new
// dataset in its place, and Restore and Adopt raise the version counter
// above maxVersion.
func (s *Store) ReportLost(ctx context.Context, id string, maxVersion uint64) error {
	if id == "" {
		return nil
	}
	return unavailable(reportScript.Run(ctx, s.c, []string{s.k.lost}, id, strconv.FormatUint(maxVersion, 10)).Err())
}

// adoptScript makes what Redis holds the intended dataset: it keeps its
// id (or creates one), records the lost ids as superseded, raises the
// version counter above every reported version, and clears the reports.
var adoptScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
local lost = redis.call('HGETALL', KEYS[2])
local sup = redis.call('HGET', KEYS[1], 'supersedes') or ''
local floor = 0
for i = 1, #lost, 2 do
  if lost[i] ~= cur and not string.find(',' .. sup .. ',', ',' .. lost[i] .. ',', 1, true) then
    if sup == '' then sup = lost[i] else sup = sup .. ',' .. lost[i] end
  end
  floor = math.max(floor, tonumber(lost[i + 1]))
end
for i = 3, #ARGV do
  local id = ARGV[i]
  if id ~= cur and not string.find(',' .. sup .. ',', ',' .. id .. ',', 1, true) then
    if sup == '' then sup = id else sup = sup .. ',' .. id end
  end
end
if not cur then
  cur = ARGV[1]
  redis.call('HSET', KEYS[1], 'id', cur, 'created', ARGV[2])
end
if sup ~= '' then redis.call('HSET', KEYS[1], 'supersedes', sup) end
redis.call('HSET', KEYS[1], 'adopted', ARGV[2])
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
if seq < floor then redis.call('SET', KEYS[3], floor) end
redis.call('DEL', KEYS[2])
return cur
`)

// Adopt makes the dataset Redis holds now (possibly empty) the intended
// one, over every id edges reported lost and over the ids in also: edges
// that remember one of those accept it and reload in full. The version
// counter is raised above every version the edges reported, so versions
// never restart under them. It returns the adopted id.
func (s *Store) Adopt(ctx context.Context, also ...string) (string, error) {
	args := []any{newDatasetID(), s.now().Format(time.RFC3339)}
	for _, id := range also {
		args = append(args, id)
	}
	id, err := adoptScript.Run(ctx, s.c, []string{s.k.dataset, s.k.lost, s.k.seq}, args...).Text()
	if err != nil {
		return "", unavailable(err)
	}
	s.known.Store(id)
	return id, nil
}

// restoreFinishScript ends a restore: the dataset gets the lost id back,
// the version counter is raised to ARGV[2] (at least), and the reports of
// the loss are cleared. It refuses (returning the id Redis holds) when
// Redis holds another dataset.
var restoreFinishScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
if cur and cur ~= ARGV[1] then return cur end
if not cur then redis.call('HSET', KEYS[1], 'id', ARGV[1], 'created', ARGV[3]) end
redis.call('HSET', KEYS[1], 'restored', ARGV[3])
local floor = tonumber(ARGV[2])
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do floor = math.max(floor, tonumber(v)) end
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
if seq < floor then redis.call('SET', KEYS[3], floor) end
redis.call('DEL', KEYS[2])
return ARGV[1]
`)

// CheckRestore returns an error when Redis holds a dataset other than id
// (a restore would mix two datasets).
func (s *Store) CheckRestore(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("a restore needs the id of the lost dataset")
	}
	d, err := s.Dataset(ctx)
	if err != nil {
		return err
	}
	if d.ID != "" && d.ID != id {
		return fmt.Errorf("redis holds the link dataset %s, not %s: adopt it ('qredge dataset adopt') or restore into an empty Redis", d.ID, id)
	}
	return nil
}

// RestoreLinks writes links back into a lost dataset: each keeps its
// version, times and tags (a link without a version gets one above every
// version stored, restored or reported lost). Links already stored under
// the same key are replaced. It returns the highest version written.
// Nothing is visible to edges until RestoreFinish writes the id back.
func (s *Store) RestoreLinks(ctx context.Context, links []*store.Link) (uint64, error) {
	var top uint64
	const batch = 2000
	for i := 0; i < len(links); i += batch {
		part := links[i:min(i+batch, len(links))]
		var need uint64
		for _, l := range part {
			if l.Version == 0 {
				need++
			}
		}
		var next uint64
		if need > 0 {
			d, err := s.Dataset(ctx)
			if err != nil {
				return top, err
			}
			floor := d.Seq
			for _, v := range d.Lost {
				floor = max(floor, v)
			}
			for _, l := range links {
				floor = max(floor, l.Version)
			}
			if err := s.c.Set(ctx, s.k.seq, floor+need, 0).Err(); err != nil {
				return top, unavailable(err)
			}
			next = floor + 1
		}
		out := make([]*store.Link, len(part))
		for j, l := range part {
			c := l.Clone()
			if c.Version == 0 {
				c.Version, next = next, next+1
			}
			if c.CreatedAt.IsZero() {
				c.CreatedAt = s.now()
			}
			if c.UpdatedAt.IsZero() {
				c.UpdatedAt = c.CreatedAt
			}
			top = max(top, c.Version)
			out[j] = c
		}
		if err := s.writeLinks(ctx, out); err != nil {
			return top, err
		}
	}
	return top, nil
}

// RestoreFinish ends a restore: the dataset gets id back, the version
// counter is raised above top and every version reported lost, and the
// reports are cleared. Edges that remember id reload it.
func (s *Store) RestoreFinish(ctx context.Context, id string, top uint64) error {
	got, err := restoreFinishScript.Run(ctx, s.c, []string{s.k.dataset, s.k.lost, s.k.seq}, id, strconv.FormatUint(top, 10), s.now().Format(time.RFC3339)).Text()
	if err != nil {
		return unavailable(err)
	}
	if got != id {
		return fmt.Errorf("redis now holds the link dataset %s, not %s: another writer created it during the restore", got, id)
	}
	s.known.Store(id)
	return nil
}

// notFound returns err, the ENOTFOUND of a link GetLink did not find,
// unless the dataset this store remembers is lost: then the error says
// so, so that reading or changing a link of a lost dataset is answered as
// lost (503), not 404. It costs a round trip only for links not found by
// a store that has seen a dataset.
func (s *Store) notFound(ctx context.Context, err error) error {
	if s.KnownDataset() == "" || store.ErrorCode(err) != store.ENOTFOUND {
		return err
	}
	if lost := s.CheckDataset(ctx); lost != nil {
		return lost
	}
	return err
}

// CheckDataset reads the dataset and returns the error a write would get
// (store.EDATASETLOST), or the error reading it; nil when writes may go
// on. It answers as the write scripts decide (datasetLua).
func (s *Store) CheckDataset(ctx context.Context) error {
	d, err := s.Dataset(ctx)
	if err != nil {
		return err
	}
	known := s.KnownDataset()
	switch {
	case d.ID == "" && known != "":
		return s.datasetResult("lost", known)
	case d.ID == "" && len(d.Lost) > 0:
		for id := range d.Lost {
			return s.datasetResult("lost", id)
		}
	case d.ID != "" && known != "" && d.ID != known && !d.SupersedesID(known):
		return s.datasetResult("other", d.ID)
	}
	return nil
}
