package redirect

// appendForwarded appends to dst the target URL with the scan's raw query
// merged in. When a key is in both, the destination's pairs win unless
// scanWins. Pairs are copied as sent: nothing is decoded and encoded
// again; only bytes that may not stand raw in a URL query are escaped
// (appendURLSafe). A fragment stays last.
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
		// Most pairs are raw bytes only: copied here, byte by byte, up to
		// the first byte appendURLSafe must see (a call per pair, or a
		// copy of the pair whole, made BenchmarkServeForward 2-8 ns slower).
		for i, c := range pair {
			if !queryRaw[c] {
				dst = appendURLSafe(dst, pair[i:])
				break
			}
			dst = append(dst, c)
		}
	}
	return append(dst, t.fragment()...)
}

const upperHex = "0123456789ABCDEF"

// queryRaw marks the bytes that stand unencoded in a forwarded query:
// RFC 3986's unreserved characters, its sub-delimiters but the apostrophe
// (which WHATWG's URL standard encodes in queries, and which would end a
// single-quoted HTML attribute), and ':', '@', '/', '?'. '%' is not in
// it: appendURLSafe keeps it only when it starts a valid escape.
var queryRaw = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@/?") {
		t[c] = true
	}
	return t
}()

// appendURLSafe appends b, percent-encoding every byte that may not stand
// raw in a URL query (controls, space, DEL, non-ASCII, the characters
// "#'<>[\]^`{|} and a '%' that starts no valid escape), so the Location
// header is a valid URL and a stray '#' cannot cut the query. Valid %XX
// escapes are kept as they are: nothing is encoded twice.
func appendURLSafe(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if queryRaw[c] || c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			dst = append(dst, c) // an escape's digits follow raw
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
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
