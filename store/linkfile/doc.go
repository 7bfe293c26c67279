// Package linkfile holds the file forms of links, for 'qredge links
// import/export' and the bulk API.
//
// # CSV
//
// The columns, written in this order, are
//
//	code,domain,destination,status,forward_query,query_precedence,disabled,tags,rules,variants,schedule,version,created_at,updated_at
//
// When reading, columns may come in any order and only destination is
// required; version, created_at, updated_at, short_url and qr_url are set
// by the server, so they are accepted and ignored (an export re-imports as
// it is). Cells are trimmed; booleans are true/false, 1/0 or yes/no (empty
// is false); tags are separated by spaces or commas; rules, variants and
// schedule are JSON, decoded strictly.
//
// The package parses and formats only: it never validates links (callers
// run store.Link.Validate) and never talks to a store.
package linkfile
