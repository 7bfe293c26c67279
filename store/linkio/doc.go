// Package linkio moves links between the files of store/linkfile and
// wherever links are kept: it reads a file as a Source (CSV, JSON lines or
// an edge's snapshot), imports it in chunks through a Creator (a store or
// the API) with a report of every row that failed, exports what a Lister
// holds, and restores a lost link dataset through a Restorer.
//
// It applies the product's rules of an import: every row validated
// against the link model and the destination policy, a missing code
// drawn, a (domain, code) given twice refused, failures reported by line
// in line order. It never opens a store or a connection itself and
// knows no flags: 'qredge links' picks the backend and hands it in.
package linkio
