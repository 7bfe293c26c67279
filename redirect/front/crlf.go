package front

import (
	"bytes"
	"errors"
	"net"
)

// errBareLF is the read error of a connection whose request head has a
// line ending in a bare LF. fasthttp would wait for the CRLF that ends the
// head until the read timeout; net/http would take the request. Both
// answer a read error in the head with 400 and close the connection.
var errBareLF = errors.New("a request line or header ends in a bare LF, not CRLF")

// crlfListener wraps each accepted connection in a crlfConn.
type crlfListener struct{ net.Listener }

func (l crlfListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &crlfConn{Conn: c}, nil
}

// crlfConn follows the requests on a connection as the server reads them:
// in a request head every LF must follow a CR, else the bytes before it are
// let through and the next Read returns errBareLF. A body of
// Content-Length bytes is let through unchecked; after a head with
// Transfer-Encoding (or a Content-Length it cannot read) the rest of the
// connection is, as the server reads it by rules this does not follow. A
// read costs one bytes.IndexByte per head line; nothing is allocated.
type crlfConn struct {
	net.Conn
	writeDL coarseDeadline // deadline.go

	err  error // errBareLF once found
	mode uint8
	body int64 // body bytes still to come (modeBody)

	// The head being read.
	lines   int   // non-empty lines so far
	clen    int64 // Content-Length, 0 for none
	hasCL   bool  // a Content-Length was seen
	unknown bool  // framing this does not follow
	// The current line, when it began in an earlier read.
	partial int  // its bytes so far
	cr      bool // its last byte so far is a CR
	start   [48]byte
}

const (
	modeHead uint8 = iota
	modeBody
	modeOff
)

func (c *crlfConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.mode != modeOff {
		if i := c.scan(p[:n]); i >= 0 {
			c.err = errBareLF
			if i == 0 {
				return 0, c.err
			}
			return i, nil
		}
	}
	return n, err
}

// scan follows b, the next bytes of the connection, and returns the index
// of a bare LF in a head, or -1.
func (c *crlfConn) scan(b []byte) int {
	off := 0
	for off < len(b) {
		switch c.mode {
		case modeOff:
			return -1
		case modeBody:
			k := int(min(int64(len(b)-off), c.body))
			off += k
			if c.body -= int64(k); c.body == 0 {
				c.newHead()
			}
			continue
		}
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			c.more(b[off:])
			return -1
		}
		lf := off + i
		if i > 0 && b[lf-1] != '\r' || i == 0 && !c.cr {
			return lf
		}
		c.line(b[off:lf])
		off = lf + 1
	}
	return -1
}

func (c *crlfConn) newHead() {
	c.mode, c.lines, c.clen, c.hasCL, c.unknown = modeHead, 0, 0, false, false
}

// more keeps what the current line needs of b, which does not end it.
func (c *crlfConn) more(b []byte) {
	if c.partial < len(c.start) {
		copy(c.start[c.partial:], b)
	}
	c.partial += len(b)
	c.cr = b[len(b)-1] == '\r'
}

// line takes the end of a line, up to its LF (its CR included).
func (c *crlfConn) line(b []byte) {
	n := c.partial + len(b) - 1 // without the CR
	whole := n <= len(c.start)  // longer lines are read the same in one read or many
	if c.partial > 0 {
		if c.partial < len(c.start) {
			copy(c.start[c.partial:], b)
		}
		b = c.start[:min(n, len(c.start))]
		c.partial, c.cr = 0, false
	} else {
		b = b[:n]
	}
	switch {
	case n > 0:
		c.lines++
		if c.lines > 1 {
			c.header(b, whole)
		}
	case c.lines == 0:
		// Empty lines before a request line are ignored (RFC 9112, 2.2).
	case c.unknown:
		c.mode = modeOff
	case c.clen > 0:
		c.mode, c.body = modeBody, c.clen
	default:
		c.newHead()
	}
}

var (
	strContentLengthColon    = []byte("content-length:")
	strTransferEncodingColon = []byte("transfer-encoding:")
)

// header notes the framing headers; b is the line, or its start when not
// whole.
func (c *crlfConn) header(b []byte, whole bool) {
	switch b[0] | 0x20 {
	case 'c':
		if len(b) < len(strContentLengthColon) || !bytes.EqualFold(b[:len(strContentLengthColon)], strContentLengthColon) {
			return
		}
		v, ok := int64(0), whole && !c.hasCL
		digits := bytes.Trim(b[len(strContentLengthColon):], " \t")
		if len(digits) == 0 || len(digits) > 15 {
			ok = false
		}
		for _, d := range digits {
			if d < '0' || d > '9' {
				ok = false
				break
			}
			v = v*10 + int64(d-'0')
		}
		if !ok {
			c.unknown = true
			return
		}
		c.clen, c.hasCL = v, true
	case 't':
		if len(b) >= len(strTransferEncodingColon) && bytes.EqualFold(b[:len(strTransferEncodingColon)], strTransferEncodingColon) {
			c.unknown = true
		}
	}
}
