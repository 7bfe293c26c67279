// Package redirect is qredge's hot path: an in-memory table of compiled
// links and a fasthttp handler that answers GET and HEAD /{code} with a
// redirect.
//
// The handler must stay allocation-free and lock-free on its read path: it
// looks up (host, code) in Table with one atomic load per request, writes
// precomputed header bytes, and never logs, blocks or touches the network
// per request. The table is filled from a store.LinkStore at start and kept
// current by the store's change feed; the wiring lives in cmd/qredge.
//
// This package must never import the API, net/http handlers, Redis or Kafka
// clients.
package redirect
