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
// time. A request that could not be sent on time, because the worker pool
// was busy or the scheduler itself was late, is sent as soon as possible
// and its latency includes the wait. One that cannot be sent within
// Config.BacklogTimeout is counted as an error of kind "backlog". No
// intended request is skipped: at the end of a run each one is either OK or
// an error of some kind. The report also shows the closed-loop view
// ("service": from actual send to response) and the generator's own
// lateness ("send delay"), so that queueing is visible rather than hidden.
//
// Requests go out through a fasthttp.HostClient from a pool of worker
// goroutines, one request at a time each, that grows on demand up to
// Config.MaxInFlight. Which code and headers the k-th request carries
// depends only on the Config and its Seed (see Config.Dist,
// Config.UnknownFraction and the header mixes), so runs are repeatable.
// Latencies go into HDR histograms (1 µs to 60 s, three significant
// digits) per second and for the whole run; see Report.
//
// SeedAPI creates links to test against through qredge's REST API. Seeding
// a store directly is the caller's business: this package must not import a
// store backend.
//
// This package must never measure latency from the actual send time (that
// is the closed-loop mistake it exists to avoid), never drop an intended
// request without counting it, and its tests must never send traffic
// anywhere but the loopback interface.
package loadtest
