// Package loadtest is an open-loop HTTP load generator for qredge's redirect
// hot path (GET /{code}), built to answer one question: what do visitors
// see when a flash crowd arrives, say from nothing to 50,000 requests per
// second within a second?
//
// # Open loop
//
// Visitors do not wait for each other. A closed-loop tool (N connections,
// each sending its next request when the previous one answers) slows down
// when the server does, so a stalled server receives fewer requests and
// the tool records one slow request per connection where thousands of
// visitors waited. This is coordinated omission: the tool coordinates with
// the server and omits exactly the measurements that matter.
//
// This package schedules requests at intended send times computed from the
// rate profile alone (see Step, Spike, Ramp, ParseSchedule), never from
// responses, and measures every latency from the request's intended send
// time. A request that could not be sent on time, because every connection
// of its worker was busy or the worker itself was late, is sent as soon as
// possible and its latency includes the wait. One that cannot be sent
// within Config.BacklogTimeout is counted as an error of kind "backlog". No
// intended request is skipped: at the end of a run each one is either OK or
// an error of some kind. The report also shows the closed-loop view
// ("service": from actual send to response), the generator's own lateness
// ("send delay") and its own CPU time, so that queueing is visible rather
// than hidden and a run shows whether the generator kept up.
//
// # The request path
//
// The generator must cost far less per request than the server it
// measures, or on a small machine it measures itself. Each worker
// goroutine (Config.Workers, GOMAXPROCS by default) owns a share of the
// connections (Config.MaxInFlight; at most one request in flight on each,
// no pipelining), non-blocking sockets in an epoll set of its own outside
// Go's network poller, and computes its requests' intended times and
// contents arithmetically: request k's time from the profile, its code and
// headers from a generator seeded with the Seed and k, so runs are
// repeatable whatever the timing. Requests are encoded from bytes prepared
// at the start (the path of every code, the rest of the head for every
// combination of the header mixes) and written with one write(2); a
// response is read with one recvmsg(2), which also gives the kernel's
// receive timestamp, and parsed only as far as the status line,
// Content-Length and Connection (bodies without a Content-Length, such as
// chunked ones, count as connection errors). A worker sleeps on a timerfd
// until the next request is due, and for at least Config.Tick while it has
// requests in flight: requests due within a tick go out together and
// responses are collected once a tick, so neither side is woken per
// request. No timer, goroutine hand-off or allocation per request. Each
// worker records into HDR histograms of its own (1 µs to 60 s, three
// significant digits), merged every second and for the whole run; see
// Report. Linux only (epoll, timerfd).
//
// SeedAPI creates links to test against through qredge's REST API (with
// api/client); SeedLinks and SeedStore make the same links in a store the
// caller opened: this package must not import a store backend.
//
// This package must never measure latency from the actual send time (that
// is the closed-loop mistake it exists to avoid), never drop an intended
// request without counting it, and its tests must never send traffic
// anywhere but the loopback interface.
package loadtest
