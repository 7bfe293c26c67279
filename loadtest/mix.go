package loadtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"
)

// Code popularity distributions for Config.Dist.
const (
	DistUniform = "uniform" // every code equally often
	DistZipf    = "zipf"    // code i (from 0) in proportion to 1/(i+1)^ZipfS
)

// Weighted is one entry of a weighted mix: Value is sent in proportion to
// Weight. An empty Value means "no header" (a Referer mix uses it for direct
// visits such as QR scans).
type Weighted struct {
	Value  string  `json:"value"`
	Weight float64 `json:"weight"`
}

// DefaultUserAgents is the built-in User-Agent mix, weighted like traffic to
// a QR code: mostly phones, some desktops, a few crawlers and link-preview
// fetchers (which qredge recognises as bots).
func DefaultUserAgents() []Weighted {
	return []Weighted{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 45},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", 35},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 12},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 3},
		{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 5},
	}
}

// DefaultCountries is the built-in country mix (ISO 3166-1 alpha-2 codes),
// sent in Config.CountryHeader when that is set.
func DefaultCountries() []Weighted {
	return []Weighted{
		{"US", 30}, {"DE", 12}, {"GB", 10}, {"FR", 8}, {"IN", 8}, {"BR", 7},
		{"JP", 6}, {"CA", 5}, {"NL", 4}, {"ES", 4}, {"AU", 3}, {"XX", 3},
	}
}

// DefaultReferers is the built-in Referer mix: most visits to a short link
// or QR code carry no Referer; the rest come from social sites and search.
func DefaultReferers() []Weighted {
	return []Weighted{
		{"", 60},
		{"https://t.co/", 10},
		{"https://www.facebook.com/", 10},
		{"https://www.google.com/", 10},
		{"https://www.instagram.com/", 5},
		{"https://www.linkedin.com/", 5},
	}
}

// Codes returns the n codes prefix1, prefix2, ... prefixN: the codes SeedAPI
// creates, and those of 'qredge loadtest seed', for Config.Codes.
func Codes(prefix string, n int) []string {
	codes := make([]string, max(n, 0))
	for i := range codes {
		codes[i] = prefix + strconv.Itoa(i+1)
	}
	return codes
}

// picker chooses an index of a weighted list.
type picker struct {
	cum []float64 // cumulative weights
}

func newPicker(name string, ws []Weighted) (picker, error) {
	var p picker
	var sum float64
	for _, w := range ws {
		if w.Weight < 0 || math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) {
			return picker{}, fmt.Errorf("%s %q: weight must be a finite number >= 0, got %v", name, w.Value, w.Weight)
		}
		sum += w.Weight
		p.cum = append(p.cum, sum)
	}
	if len(ws) > 0 && sum == 0 {
		return picker{}, fmt.Errorf("%s: the weights add up to 0", name)
	}
	return p, nil
}

func (p picker) pick(r *rand.Rand) uint16 {
	if len(p.cum) < 2 {
		return 0
	}
	x := r.Float64() * p.cum[len(p.cum)-1]
	for i, c := range p.cum {
		if x < c {
			return uint16(i)
		}
	}
	return uint16(len(p.cum) - 1)
}

// unknownLen is the length of the random codes sent for UnknownFraction:
// the shape of a typical short code.
const unknownLen = 7

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// job is one intended request: a fixed-size value, kept with the
// connection that sends it.
type job struct {
	at      time.Duration // intended send time, since the start of the run
	code    int32         // index into Config.Codes, or -1 for unknown
	unknown [unknownLen]byte
	ua      uint16
	country uint16
	referer uint16
}

// mixer decides what each request asks for. Request k (from 0) draws from
// a generator seeded with the Config's Seed and k, so the k-th request of a
// run is the same for the same Config and Seed, whatever the timing and
// whichever worker sends it.
type mixer struct {
	src     *rand.PCG
	rng     *rand.Rand
	zipf    *rand.Zipf // nil for uniform
	seed    uint64
	k       uint64 // the request next draws
	ncodes  int
	zipfS   float64
	unknown float64
	known   map[string]struct{}
	ua      picker
	country picker
	referer picker
}

func newMixer(cfg *Config) (*mixer, error) {
	m := &mixer{
		seed:    cfg.Seed,
		ncodes:  len(cfg.Codes),
		zipfS:   cfg.ZipfS,
		unknown: cfg.UnknownFraction,
		known:   make(map[string]struct{}, len(cfg.Codes)),
	}
	if cfg.Dist != DistZipf {
		m.zipfS = 0
	}
	for _, c := range cfg.Codes {
		m.known[c] = struct{}{}
	}
	var err error
	if m.ua, err = newPicker("user agent", cfg.UserAgents); err != nil {
		return nil, err
	}
	if m.country, err = newPicker("country", cfg.Countries); err != nil {
		return nil, err
	}
	if m.referer, err = newPicker("referer", cfg.Referers); err != nil {
		return nil, err
	}
	m.init()
	return m, nil
}

// init gives m its own generator.
func (m *mixer) init() {
	m.src = rand.NewPCG(m.seed, 0)
	m.rng = rand.New(m.src)
	m.zipf = nil
	if m.zipfS > 1 && m.ncodes > 1 {
		m.zipf = rand.NewZipf(m.rng, m.zipfS, 1, uint64(m.ncodes-1))
	}
}

// clone returns a mixer that draws the same requests as m and can be used
// at the same time as m: the tables are shared, the generator is not.
func (m *mixer) clone() *mixer {
	c := *m
	c.init()
	return &c
}

// next fills j with the next request's code and headers.
func (m *mixer) next(j *job) {
	m.draw(m.k, j)
	m.k++
}

// draw fills j with the code and headers of request k.
func (m *mixer) draw(k uint64, j *job) {
	m.src.Seed(m.seed, splitmix64(k))
	switch {
	case m.ncodes == 0 || m.unknown > 0 && m.rng.Float64() < m.unknown:
		j.code = -1
		for {
			for i := range j.unknown {
				j.unknown[i] = base62[m.rng.IntN(len(base62))]
			}
			if _, ok := m.known[string(j.unknown[:])]; !ok {
				break
			}
		}
	case m.zipf != nil:
		j.code = int32(m.zipf.Uint64())
	default:
		j.code = int32(m.rng.IntN(m.ncodes))
	}
	j.ua = m.ua.pick(m.rng)
	j.country = m.country.pick(m.rng)
	j.referer = m.referer.pick(m.rng)
}

// splitmix64 scrambles k, so that neighbouring requests seed unrelated
// streams.
func splitmix64(k uint64) uint64 {
	k += 0x9e3779b97f4a7c15
	k = (k ^ k>>30) * 0xbf58476d1ce4e5b9
	k = (k ^ k>>27) * 0x94d049bb133111eb
	return k ^ k>>31
}

// codePaths returns "/" + the escaped code for each code, built once.
func codePaths(codes []string) [][]byte {
	paths := make([][]byte, len(codes))
	for i, c := range codes {
		paths[i] = []byte("/" + url.PathEscape(c))
	}
	return paths
}
