// Package client talks to qredge's HTTP APIs from another process: the
// REST API of 'qredge serve' and 'qredge api' (links, bulk creation,
// listing page by page, API keys, backups) and the admin listener of a
// running edge (its link table). Every command of the CLI that talks to a
// server, and the load generator's seeding, goes through it.
//
// Every request carries the API key as a Bearer token. An answer of 429
// Too Many Requests is waited out as its Retry-After says and the request
// sent again, a few times (Config.RateLimitRetries). Any other answer a
// call does not expect is an *Error holding the status and the
// problem+json the API sends (its detail, code and fields at fault).
//
// The package is a client only: it never serves, never opens a store and
// must not import go-redis or kafka-go. It decodes what the server sends
// into the store's types and leaves validation to the server.
package client
