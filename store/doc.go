// Package store holds qredge's link model, its validation, the API key model
// and the interfaces that storage backends implement.
//
// Backends live in subpackages (store/boltstore for the embedded default,
// store/redisstore for the shared one) and only a backend imports its
// driver. This package
// must never import net/http, fasthttp, Kafka or Redis clients: the hot path
// (redirect), the API and the analytics consumer all depend on it, and it
// depends on nothing of theirs.
package store
