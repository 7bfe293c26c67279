// Package api is qredge's management REST API under /api/v1: links, API
// keys and the OpenAPI document, as a plain net/http handler.
//
// Every error is an application/problem+json body (RFC 9457); errors.go
// holds the one table that maps store error codes to HTTP statuses.
// Internal errors are logged here and never shown to clients. This package
// never imports a store backend, Redis or Kafka: cmd/qredge hands it the
// store.
package api
