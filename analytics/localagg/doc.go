// Package localagg is the aggregator of the embedded mode (qredge serve,
// no Redis, no Kafka): it tails the disk spool that analytics.Pipeline
// writes when it has no sink, counts the events into the bbolt file that
// holds the links, and reads stats back (store.StatsReader).
//
// Exactly once: the spool is the event log, and a position in it (segment
// number and byte offset, always at a record boundary) is stored in bbolt.
// Each chunk of whole records is applied in one bbolt transaction that
// also writes the position after them, so after a crash at any instant
// the counters and the position agree, and counting resumes at the
// position. Applied segments are removed only after a later position has
// committed; a crash in between leaves a segment older than the position,
// removed on the next pass.
//
// Reading the segment being written: a record there that is incomplete or
// fails its checksum is not written yet, and is read again later; in a
// sealed segment it is damage, logged with its size, and reading goes on
// with the next segment. A segment can be sealed (renamed) between the
// listing and the read: the read fails with fs.ErrNotExist and the
// listing is taken again. An event that does not decode is poison: counted
// in Metrics.Poison and skipped.
//
// One departure from a plain "remove what was read": the segment holding
// the position is never removed, even when sealed and read to its end,
// until a later segment exists. The spool numbers new segments after the
// highest one on disk when it is opened, so removing them all would make
// it reuse numbers the position has passed, and the aggregator would take
// new segments for old ones. For the same reason Open calls
// Spool.ReserveSeq with the position, in case the spool directory was
// emptied while qredge was stopped.
//
// Layout in the bbolt file: bucket "stats" maps a bucket key (granularity
// letter, 8-byte big-endian bucket start with the sign bit flipped, link
// key) to the bucket's counters (the fields of aggregate.Fields; human
// and bot totals first, so a top query reads two varints); "uniq" maps
// the same key to two HyperLogLog sketches (precision 14: about 0.8%
// standard error, exact-looking below a few thousand) of the visitors'
// IP hashes, all scans and human scans; "statspos" holds the position.
// Buckets older than their retention are pruned every PruneInterval.
//
// The lag gauge is Metrics.LagBytes (qredge_analytics_lag_bytes): spool
// bytes not applied yet, not events, as counting events would mean
// reading them.
//
// A damaged page in its buckets (bbolt panics on one, or faults on the
// memory map) fails the stats store instead of the process: Fail stops
// the counting, the events wait in the spool, and reads and purges answer
// store.EUNAVAILABLE naming the damage, while the rest of the file (the
// links) serves on. Every access to the buckets runs under guard, which
// recovers the panic (and, with debug.SetPanicOnFault, the fault) in the
// narrowest place.
//
// What it must never do: apply counters without the position in the same
// transaction, remove a segment at or after the committed position, or
// share the spool with a sink's replayer (both would remove segments).
// It never touches the link store's buckets.
package localagg
