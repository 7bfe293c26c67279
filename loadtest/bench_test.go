package loadtest

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

var sinkJob job

// BenchmarkSchedule is a worker's work per request apart from sending and
// receiving: the next intended time and the next code and headers.
func BenchmarkSchedule(b *testing.B) {
	f := func(b *testing.B, dist string, steps []Step) {
		cfg := DefaultConfig()
		cfg.Codes = Codes("c", 100000)
		cfg.Dist = dist
		cfg.UnknownFraction = 0.02
		cfg.CountryHeader = "CF-IPCountry"
		m, err := newMixer(&cfg)
		if err != nil {
			b.Fatal(err)
		}
		clk := newClock(steps)
		b.ReportAllocs()
		for b.Loop() {
			at, ok := clk.next()
			if !ok {
				clk = newClock(steps)
			}
			m.next(&sinkJob)
			sinkJob.at = at
		}
	}
	b.Run("zipf", func(b *testing.B) { f(b, DistZipf, Constant(50000, time.Hour)) })
	b.Run("uniform", func(b *testing.B) { f(b, DistUniform, Constant(50000, time.Hour)) })
	b.Run("ramp", func(b *testing.B) { f(b, DistZipf, Ramp(0, 1e6, time.Hour)) })
}

// BenchmarkRecord is a worker recording an outcome into its collector.
func BenchmarkRecord(b *testing.B) {
	c := newCollector()
	o := outcome{status: 302, sent: true, latency: 150 * time.Microsecond, service: 40 * time.Microsecond, delay: 110 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		o := o
		for pb.Next() {
			c.record(0, &o)
		}
	})
}

var sinkBuf []byte

// BenchmarkEncode is a worker encoding a request from its pre-encoded parts.
func BenchmarkEncode(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Codes = Codes("c", 1000)
	cfg.UnknownFraction = 0.1
	cfg.CountryHeader = "CF-IPCountry"
	tg, err := cfg.check()
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMixer(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	e := newEncoder(&cfg, tg)
	jobs := make([]job, 1024)
	for i := range jobs {
		m.next(&jobs[i])
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = e.encode(buf, &jobs[i%len(jobs)])
		i++
	}
	sinkBuf = buf
	if !bytes.Contains(buf, []byte("User-Agent: ")) {
		b.Fatalf("no User-Agent in %q", buf)
	}
}

// BenchmarkRequest is the whole per-request path of the generator (the
// intended time, the code and headers, encoding, the write, epoll, the read,
// parsing the response and recording it) against a minimal server in the
// same process on 127.0.0.1, which allocates nothing per request either.
// Requests are due faster than they can go, so the connections are always
// busy; an operation is one request. It reports 0 allocs/op: what a run
// allocates does not grow with its requests (see TestRunAllocs). The time
// per operation is bounded below by the tick: each connection carries at
// most one request per tick.
func BenchmarkRequest(b *testing.B) {
	for _, conns := range []int{16, 64} {
		b.Run("conns="+strconv.Itoa(conns), func(b *testing.B) {
			srv := mustStartRawServer(b)
			cfg := rawConfig(srv, conns)
			const rate = 1_000_000
			cfg.Schedule = Constant(rate, time.Duration(float64(b.N)/rate*float64(time.Second))+time.Microsecond)
			r, err := newRunner(&cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			rep, err := r.run(context.Background())
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if t := rep.Total; t.Errors != 0 || t.OK != t.Intended {
				b.Fatalf("intended %d, ok %d, errors %v", t.Intended, t.OK, t.ErrorKinds)
			}
		})
	}
}

// rawConfig is a Config for srv with one worker and conns connections that
// lets requests wait for a connection for as long as it takes.
func rawConfig(srv string, conns int) Config {
	cfg := DefaultConfig()
	cfg.Target = srv
	cfg.Codes = Codes("c", 100000)
	cfg.UnknownFraction = 0 // the raw server answers 302 to everything
	cfg.CountryHeader = "CF-IPCountry"
	cfg.Workers = 1
	cfg.MaxInFlight = conns
	cfg.BacklogTimeout = time.Hour
	return cfg
}

// mustStartRawServer starts a minimal HTTP/1.1 server on 127.0.0.1 that
// answers every request with the same 302, allocating nothing per request,
// and returns its URL.
func mustStartRawServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cannot listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveRaw(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

var rawResponse = []byte("HTTP/1.1 302 Found\r\nServer: raw\r\nContent-Type: text/plain\r\nContent-Length: 0\r\nLocation: https://example.com/landing-page?utm_source=qr\r\n\r\n")

func serveRaw(c net.Conn) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], crlfcrlf)
			if i < 0 {
				break
			}
			if _, err := c.Write(rawResponse); err != nil {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
		if n == len(buf) {
			return
		}
	}
}
