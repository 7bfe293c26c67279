// Package loadtest will hold the open-loop flash-crowd load generator
// (issue 8). Nothing is built here yet.
package loadtest
