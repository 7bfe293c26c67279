// Package linkfile holds the file forms of links beside each other, for
// 'qredge links import/export' and the bulk API: CSV (one link a row under
// a header row) and JSON lines (one link object a line), and Input, the
// link object a client writes.
//
// # CSV
//
// The columns, written in this order, are
//
//	code,domain,destination,status,forward_query,query_precedence,disabled,tags,rules,variants,schedule,title,notes,gone_url,max_scans,max_scans_include_bots,password_hash,password_protected,version,created_at,updated_at
//
// When reading, columns may come in any order and only destination is
// required; version, created_at, updated_at, short_url and qr_url are set
// by the server, so they are accepted and ignored (an export re-imports as
// it is). Cells are trimmed; booleans are true/false, 1/0 or yes/no (empty
// is false); tags are separated by spaces or commas; rules, variants and
// schedule are JSON, decoded strictly.
//
// # JSON lines
//
// One link object a line with the keys of the API's link objects, decoded
// strictly as the API decodes a body; blank lines are skipped. The fields
// the server sets (version, created_at, updated_at, short_url, qr_url) are
// accepted and dropped, or kept for a restore.
//
// The package parses and formats only: it never validates links (callers
// run store.Link.Validate) and never talks to a store.
package linkfile
