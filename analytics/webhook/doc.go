// Package webhook delivers scan and link events to webhooks: HTTP
// endpoints of the operator's users, signed with each webhook's secret.
//
// # Design
//
// Events reach a webhook in two steps that share nothing but a
// transactional outbox in the store (store.DeliveryStore), so that a
// slow or dead receiver never holds back anything else, and nothing the
// store acknowledged is lost:
//
//   - The Applier (KafkaApplier for the "qredge-webhooks" consumer group
//     of analytics/kafka; ApplyScans and ApplyChanges for other sources)
//     asks the Router which webhooks want each event: subscribed to its
//     kind, of one of the webhook's codes and tags when it names any, and
//     sampled in by a hash of the event id when it samples. The Router
//     cuts them into batches of at most Config.MaxEvents, each with its
//     JSON body built once, and the Applier appends them to the webhooks'
//     outboxes and stores the source's offset in the same transaction
//     (one script on Redis, one bbolt transaction embedded). After a
//     crash at any instant the outboxes and the offset agree, and the
//     source is read again after the offset. A webhook whose outbox holds
//     Config.OutboxCap batches gets the rest as dead letters (reason
//     backlog_full), counted, so a receiver down for days cannot fill the
//     store.
//   - The Deliverer runs one goroutine per enabled webhook, which sends
//     only while its process holds the webhook's lease (renewed every
//     third of Config.LeaseTTL; a process that stops renewing loses it
//     and another takes over). It POSTs the outbox's first batch until
//     the receiver accepts it (2xx), then removes it and sends the next.
//     A 5xx, 408 or 429 answer, a timeout or a connection error is
//     retried with exponential backoff and full jitter (or after the
//     receiver's Retry-After), for Config.GiveUpAfter from when the batch
//     was queued; then, or at once for any other answer (3xx, 4xx) or a
//     destination the address policy refuses, the batch goes to the
//     webhook's dead letters, from where Redeliver puts it back at the end
//     of the outbox. Every attempt is logged (the last store.MaxAttempts
//     per webhook).
//
// # Guarantees
//
//   - At least once: a batch leaves the outbox only once delivered or
//     dead-lettered. A crash between the receiver's answer and the
//     removal, a lease taken over while a request was in flight, or a
//     redelivery sends a batch again, with the same Qredge-Delivery id.
//     Receivers deduplicate by that id, or by the events' ids (a scan's
//     id, "link-<version>" for a link change).
//   - Order: the batches of one webhook are delivered in outbox order,
//     one at a time, and a batch is not sent before the one ahead of it
//     is accepted or dead-lettered. Link events of a link reach the
//     outbox in version order (a store's change feed is ordered). Scans
//     from different Kafka partitions are queued by different consumers
//     and are not ordered with each other; within a partition they are.
//     A redelivered batch comes after what was queued meanwhile.
//   - Nothing is dropped silently: a full outbox turns into dead letters
//     (qredge_webhook_dead_letters_total{reason="backlog_full"}), and
//     dead letters beyond Config.DeadLetterCap are dropped oldest first
//     and counted (qredge_webhook_dead_letters_dropped_total).
//
// A webhook created or enabled is routed to from the Router's next read
// of the webhook list (Config.Refresh, or Reload); a disabled webhook is
// routed nothing and delivers nothing, and its outbox waits until it is
// enabled again.
//
// # Requests
//
// Each delivery is a POST of a Delivery (JSON) with the headers
// Content-Type: application/json, Qredge-Delivery (the batch id, the same
// on every attempt), Qredge-Event (its type), User-Agent: qredge-webhooks
// and Qredge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" under the secret>, which receivers check with Verify.
// Redirects are not followed and no proxy is used.
//
// # What it must never do
//
// Reach a loopback, private or link-local address unless the operator
// allows it (Config.AllowPrivate): store.CheckWebhookHost checks the URL
// before each attempt, and the dialer checks the address every
// connection goes to, after DNS, so a host that resolves to an inside
// address later (DNS rebinding) is refused too. Put a visitor's IP in a
// payload (scans carry the edge's daily-salted hash). Let one webhook's
// receiver delay another's deliveries. Remove a batch from an outbox
// before it was delivered or dead-lettered.
package webhook
