package loadtest

import (
	"bytes"
	"errors"
)

// headMax bounds a response head (status line and headers). qredge's
// answers have heads of about 200 bytes.
const headMax = 4096

var (
	crlfcrlf = []byte("\r\n\r\n")

	errStatusLine = errors.New("malformed status line")
	errLength     = errors.New("malformed Content-Length")
	errChunked    = errors.New("chunked or otherwise encoded response body (only Content-Length is supported)")
	errNoLength   = errors.New("response body without Content-Length")
)

// headEnd returns the length of the head in b (up to and including the
// blank line), or -1 if the head is not complete. from is how many bytes of
// b were searched before, so that a head arriving in pieces is scanned once.
func headEnd(b []byte, from int) int {
	from = max(from-3, 0)
	if i := bytes.Index(b[from:], crlfcrlf); i >= 0 {
		return from + i + 4
	}
	return -1
}

// parseHead reads a complete response head: the status, the length of the
// body that follows, and whether the server will close the connection
// after it. It reads only the status line and the Content-Length,
// Transfer-Encoding and Connection headers, and refuses bodies without a
// Content-Length (qredge and nginx send one with every redirect and 404).
func parseHead(h []byte) (status, length int, closing bool, err error) {
	// "HTTP/1.1 302 Found\r\n"
	if len(h) < 12 || string(h[:7]) != "HTTP/1." || h[8] != ' ' || (len(h) > 12 && h[12] != ' ' && h[12] != '\r') {
		return 0, 0, false, errStatusLine
	}
	for _, c := range h[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, false, errStatusLine
		}
		status = status*10 + int(c-'0')
	}
	closing = h[7] == '0' // HTTP/1.0: no keep-alive assumed
	length = -1
	i := bytes.IndexByte(h, '\n')
	for i >= 0 && i+1 < len(h) {
		line := h[i+1:]
		j := bytes.IndexByte(line, '\n')
		if j < 0 {
			break
		}
		i += j + 1
		line = bytes.TrimRight(line[:j], "\r")
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue // the blank line at the end
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			if length >= 0 || len(value) == 0 || len(value) > 9 {
				return status, 0, false, errLength
			}
			length = 0
			for _, c := range value {
				if c < '0' || c > '9' {
					return status, 0, false, errLength
				}
				length = length*10 + int(c-'0')
			}
		case equalFold(name, "transfer-encoding"):
			return status, 0, false, errChunked
		case equalFold(name, "connection"):
			if equalFold(value, "close") {
				closing = true
			} else if equalFold(value, "keep-alive") {
				closing = false
			}
		}
	}
	if length < 0 {
		if status/100 != 1 && status != 204 && status != 304 {
			return status, 0, false, errNoLength
		}
		length = 0
	}
	return status, length, closing, nil
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
