package loadtest

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

var sinkJob job

// BenchmarkSchedule is the scheduler's work per request apart from waiting:
// the next intended time and the next code and headers.
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

// BenchmarkRecord is the collector, which all workers share.
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

// BenchmarkBuild is a worker filling its request.
func BenchmarkBuild(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Codes = Codes("c", 1000)
	cfg.UnknownFraction = 0.1
	cfg.CountryHeader = "CF-IPCountry"
	m, err := newMixer(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := &runner{
		prefix: []byte("http://127.0.0.1:8080"), paths: codePaths(cfg.Codes),
		ua: values(cfg.UserAgents), countryKey: []byte(cfg.CountryHeader),
		country: values(cfg.Countries), referer: values(cfg.Referers),
	}
	jobs := make([]job, 1024)
	for i := range jobs {
		m.next(&jobs[i])
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	var uri []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		uri = r.build(req, &jobs[i%len(jobs)], uri)
		i++
	}
	if len(req.Header.UserAgent()) == 0 {
		b.Fatal("no User-Agent")
	}
}
