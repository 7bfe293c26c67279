package loadtest

// encoder holds the bytes of every request, encoded once at the start of a
// run: the start of the request line, the path of each code, and the rest
// of the head for each combination of the User-Agent, Referer and country
// mixes. Encoding a request is then three appends into a reused buffer.
type encoder struct {
	get   []byte   // "GET " and the target's base path
	paths [][]byte // "/code" for each code, escaped
	// tails[(ua*nref+referer)*ncountry+country] is " HTTP/1.1\r\n", the
	// Host line, the mix's header lines and the blank line.
	tails          [][]byte
	nref, ncountry int
}

func newEncoder(cfg *Config, tg target) *encoder {
	e := &encoder{
		get:      []byte("GET " + tg.path),
		paths:    codePaths(cfg.Codes),
		nref:     max(len(cfg.Referers), 1),
		ncountry: 1,
	}
	uas := []string{""}
	if len(cfg.UserAgents) > 0 {
		uas = uas[:0]
		for _, w := range cfg.UserAgents {
			uas = append(uas, w.Value)
		}
	}
	refs := []string{""}
	if len(cfg.Referers) > 0 {
		refs = refs[:0]
		for _, w := range cfg.Referers {
			refs = append(refs, w.Value)
		}
	}
	countries := []string{""}
	if cfg.CountryHeader != "" {
		countries = countries[:0]
		for _, w := range cfg.Countries {
			countries = append(countries, w.Value)
		}
		e.ncountry = len(countries)
	}
	for _, ua := range uas {
		for _, ref := range refs {
			for _, country := range countries {
				t := " HTTP/1.1\r\nHost: " + tg.host + "\r\n"
				if ua != "" {
					t += "User-Agent: " + ua + "\r\n"
				}
				if ref != "" {
					t += "Referer: " + ref + "\r\n"
				}
				if cfg.CountryHeader != "" {
					t += cfg.CountryHeader + ": " + country + "\r\n"
				}
				e.tails = append(e.tails, []byte(t+"\r\n"))
			}
		}
	}
	return e
}

// encode appends the request j to buf[:0] and returns it.
func (e *encoder) encode(buf []byte, j *job) []byte {
	buf = append(buf[:0], e.get...)
	if j.code >= 0 {
		buf = append(buf, e.paths[j.code]...)
	} else {
		buf = append(buf, '/')
		buf = append(buf, j.unknown[:]...)
	}
	country := int(j.country)
	if e.ncountry == 1 {
		country = 0 // no country header: the mixer's pick is not sent
	}
	return append(buf, e.tails[(int(j.ua)*e.nref+int(j.referer))*e.ncountry+country]...)
}
