// Package spool is the disk log of scan events: an append-only sequence of
// segment files holding batches of encoded events. The event pipeline
// (analytics.Pipeline) appends to it when Kafka is slow, failing or absent,
// and reads it in one of two ways: its replayer sends whole sealed segments
// to Kafka (ReadSegment), or, in the embedded mode, analytics/localagg
// tails it while it is written (Segments, ReadRecords, Appended). A spool
// is replayed or tailed, never both.
//
// One process holds a spool directory at a time (an flock on spool.lock).
// The spool never decodes events: a record's payload is opaque bytes to it.
// It never blocks a request either; only the pipeline's goroutines call it.
//
// Segment format: a file is a sequence of records
//
//	[4 bytes big-endian payload length][4 bytes CRC-32C of payload][payload]
//
// and a payload is one batch: a uvarint event count, then each event as a
// uvarint length and its ScanEvent bytes. A record whose length runs past
// the end of the file or whose checksum does not match ends the readable
// part of the segment (a torn write after power loss, or damage): the
// records before it are kept, the rest is reported.
package spool
