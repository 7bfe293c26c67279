// Package front is what stands between a listener and the redirect
// handler: the limits of the public listener (timeouts, header size,
// connection caps, the CRLF check, coarse write deadlines), the Host
// filter, the answer while the table loads, the routing of the one
// listener of 'qredge serve' between scans, the API and the probes, and the
// admin listener every process has.
//
// A scan is read top to bottom in three places: Scans (edge) or
// Router.Handler (serve), then redirect.Handler.Serve.
//
// It never decides where a code goes (that is the redirect handler's
// job) and never touches a store.
package front
