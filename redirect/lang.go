package redirect

// maxLang is the longest primary language subtag kept (ISO 639 uses 2 or 3
// letters; 8 is the BCP 47 maximum).
const maxLang = 8

// primaryLang returns the primary language subtag, lower-cased, of the
// most preferred entry of an Accept-Language header: the highest q, the
// first on ties. "*" and entries with q=0 are ignored. It does not
// allocate; n is 0 when there is none.
func primaryLang(al []byte) (lang [maxLang]byte, n int) {
	bestQ := -1
	for len(al) > 0 {
		var item []byte
		item, al = cut(al, ',')
		tag, params := cut(item, ';')
		tag = trimSpace(tag)
		q := parseQ(params)
		if q <= bestQ || q == 0 || len(tag) == 0 || tag[0] == '*' {
			continue
		}
		primary, _ := cut(tag, '-')
		if len(primary) == 0 || len(primary) > maxLang {
			continue
		}
		var cand [maxLang]byte
		ok := true
		for i, c := range primary {
			switch {
			case c >= 'a' && c <= 'z':
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			default:
				ok = false
			}
			cand[i] = c
		}
		if !ok {
			continue
		}
		lang, n, bestQ = cand, len(primary), q
	}
	return lang, n
}

// parseQ returns the q parameter of an Accept-Language entry in thousandths
// (1000 when absent or malformed, which keeps the entry's position).
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		p, params = cut(params, ';')
		p = trimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		if len(v) == 0 {
			return 1000
		}
		if v[0] == '1' {
			return 1000
		}
		if v[0] != '0' {
			return 1000
		}
		q, mult := 0, 100
		for _, c := range v[1:] {
			if c == '.' {
				continue
			}
			if c < '0' || c > '9' || mult == 0 {
				break
			}
			q += int(c-'0') * mult
			mult /= 10
		}
		return q
	}
	return 1000
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
