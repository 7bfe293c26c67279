// Package kafka is qredge's Kafka adapter, on github.com/segmentio/kafka-go
// (imported as kafkago; outside tests no other package imports it). It has
// two halves that share only Config, the brokers, topic and connection
// settings (config.go), and its flags (flags.go):
//
//   - Writer (writer.go) is the edges' analytics.Sink: it publishes the
//     pipeline's batches of scan events to the topic. Events are spread
//     over partitions by event id (see Balancer), never keyed by code, so
//     one viral code cannot pin one partition.
//   - Consumer (consumer.go) is the warm path of 'qredge analytics': a
//     consumer group whose members share the topic's partitions and hand
//     batches of decoded events to an Applier (the Redis aggregates).
//
// Neither half uses the other: they meet only in the topic, whose messages
// are ScanEvent bytes (analytics.Decode) keyed by event id.
//
// Where a partition starts is decided by the Applier, not by Kafka: on
// every assignment the member reads the last offset the Applier stored
// with the aggregates and continues after it. Kafka's committed offsets
// are written too, but only so that Kafka tools show the group's
// progress; committing after writing would count a batch twice after a
// crash between the two. A batch the Applier refuses as stale (someone
// applied it already) makes the member re-read the stored offset and seek.
//
// The consumer never stops for bad data: a message that does not decode
// as a ScanEvent (or has a newer schema_version) is counted as poison,
// logged and skipped.
package kafka
