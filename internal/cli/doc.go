// Package cli is what the qredge binaries share to read their command
// lines: flag sets in which every flag also has a QREDGE_ environment
// variable, and the flag groups more than one binary takes (the Redis
// connection).
//
// It turns flags into the config structs of the components and checks
// them; it never starts a server or holds a connection itself (Open hands
// one to its caller). Wiring belongs to the binaries under cmd/.
package cli
