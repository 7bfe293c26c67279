// Package analytics holds the scan event, its wire format (scan.proto),
// the bounded in-memory queue the hot path hands events to, and the
// pipeline that ships batches to a Sink (Kafka, in the analytics/kafka
// subpackage) or writes them to the disk spool (analytics/spool) when the
// sink is slow or down.
//
// The redirect hot path may only call Queue.Enqueue, which never blocks
// and never allocates. Raw client IPs live only in memory, in the queue:
// the pipeline hashes them before anything is encoded or written.
package analytics
