package redirect

// appendForwarded appends to dst the target URL with the scan's raw query
// merged in. When a key is in both, the destination's pairs win unless
// scanWins. Pairs are copied as sent: nothing is decoded and encoded
// again; only bytes that may not stand raw in a URL are escaped. A
// fragment stays last.
func appendForwarded(dst []byte, t *target, query []byte, scanWins bool) []byte {
	dst = append(dst, t.path()...)
	sep := byte('?')
	for i := range t.pairs {
		p := &t.pairs[i]
		if scanWins && queryHasKey(query, p.key) {
			continue
		}
		dst = append(dst, sep)
		sep = '&'
		dst = append(dst, p.raw...)
	}
	for len(query) > 0 {
		var pair []byte
		pair, query = cut(query, '&')
		if len(pair) == 0 {
			continue
		}
		key, _ := cut(pair, '=')
		if len(key) == 0 || (!scanWins && t.hasKey(key)) {
			continue
		}
		dst = append(dst, sep)
		sep = '&'
		dst = appendURLSafe(dst, pair)
	}
	return append(dst, t.fragment()...)
}

const upperHex = "0123456789ABCDEF"

// appendURLSafe appends b, percent-encoding only the bytes that may not
// stand raw in a URL (controls, space, '#', non-ASCII), so the Location
// header stays valid and a stray '#' cannot cut the query. Existing escapes
// are kept as they are: nothing is encoded twice.
func appendURLSafe(dst, b []byte) []byte {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '#' {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func cut(b []byte, sep byte) (before, after []byte) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// hasKey reports whether the destination's query has the raw (still
// percent-encoded) key.
func (t *target) hasKey(raw []byte) bool {
	for i := range t.pairs {
		if equalUnescaped(raw, t.pairs[i].key) {
			return true
		}
	}
	return false
}

// queryHasKey reports whether a raw query has a pair with the decoded key.
func queryHasKey(query []byte, key string) bool {
	for len(query) > 0 {
		var pair []byte
		pair, query = cut(query, '&')
		k, _ := cut(pair, '=')
		if len(k) > 0 && equalUnescaped(k, key) {
			return true
		}
	}
	return false
}

// equalUnescaped compares a raw query key with a decoded one without
// allocating: %XX escapes and '+' are decoded on the fly.
func equalUnescaped(raw []byte, decoded string) bool {
	j := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(raw):
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		if j >= len(decoded) || decoded[j] != c {
			return false
		}
		j++
	}
	return j == len(decoded)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
