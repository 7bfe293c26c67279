// Package analytics will hold the scan event, its queue and disk spool, and
// the aggregation of the warm path (issues 6 and 7). Nothing is built here
// yet. It must never be imported by the redirect hot path except through
// the event queue's non-blocking enqueue.
package analytics
