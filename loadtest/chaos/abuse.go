package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The abuse scenario's sizes: per edge, slowConns connections held open by
// slow clients at any moment (half trickle their headers, half send the
// headers of a POST and never its body), and bigHeaderRate requests/s with
// a header block of bigHeaderBytes.
const (
	slowConns      = 1000
	bigHeaderRate  = 100
	bigHeaderBytes = 16 << 10
	// The edges run with qredge's default --read-timeout.
	edgeReadTimeout = 10 * time.Second
	// Slack on top of it for the server's timer and a busy machine.
	closeSlack = 3 * time.Second
)

// slowAbuse attacks both edges, on top of the steady load, for the fault
// phase minus 2 s: slowConns slowloris connections each (one replaced as
// soon as the edge closes it), and requests with oversized headers. The
// edges must close every slow connection within their read timeout, answer
// every oversized request 431, and keep serving the steady load.
func slowAbuse(ctx context.Context, s *stack, o *opts, r *result) error {
	r.Fault = fmt.Sprintf("per edge: %d slowloris connections kept open (half trickle header bytes every 500 ms, half send a POST's headers and never its body; each replaced when closed) and %d req/s with %d KiB of headers, for %s",
		slowConns, bigHeaderRate, bigHeaderBytes>>10, o.during-2*time.Second)
	ctx, cancel := context.WithTimeout(ctx, o.during-2*time.Second)
	defer cancel()
	var st abuseStats
	var wg sync.WaitGroup
	for e := range 2 {
		addr := "127.0.0.1:" + strconv.Itoa(s.edgePorts[e])
		for i := range slowConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Spread the opening over the first second.
				if sleep(ctx, time.Duration(i)*time.Second/slowConns) != nil {
					return
				}
				for ctx.Err() == nil {
					st.slowConn(ctx, addr, i%2 == 0)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.bigHeaders(ctx, s.edgeURL(e))
		}()
	}
	wg.Wait()

	lives := st.lives
	sort.Slice(lives, func(i, j int) bool { return lives[i] < lives[j] })
	pct := func(p float64) float64 {
		if len(lives) == 0 {
			return 0
		}
		return lives[min(len(lives)-1, int(p*float64(len(lives))))].Seconds()
	}
	r.Extra["slow_conns_opened"] = st.opened.Load()
	r.Extra["slow_conns_closed_by_edge"] = len(lives)
	r.Extra["slow_conn_life_p50_s"] = pct(0.5)
	r.Extra["slow_conn_life_max_s"] = pct(1)
	r.Extra["slow_conns_open_too_long"] = st.tooLong.Load()
	r.Extra["slow_conn_errors"] = st.connErrors.Load()
	r.Extra["big_header_requests"] = st.bigSent.Load()
	r.Extra["big_header_statuses"] = st.bigStatuses
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := st.tooLong.Load(); n > 0 {
		r.fail("%d slow connections were still open %s after their first byte (read timeout %s)", n, edgeReadTimeout+closeSlack, edgeReadTimeout)
	}
	if len(lives) == 0 {
		r.fail("the edges closed no slow connection")
	}
	if n := st.connErrors.Load(); n > 0 {
		r.fail("%d slow connections could not be opened or failed other than by the edge closing them", n)
	}
	for k, v := range st.bigStatuses {
		if k != "431" && k != "closed" {
			r.fail("%d oversized-header requests got %s, want 431 (or the connection closed by the edge)", v, k)
		}
	}
	if st.bigSent.Load() == 0 {
		r.fail("no oversized-header request was sent")
	}
	return nil
}

type abuseStats struct {
	opened, tooLong, connErrors, bigSent atomic.Int64
	mu                                   sync.Mutex
	lives                                []time.Duration
	bigStatuses                          map[string]int64
}

// slowConn opens one slow connection and holds it until the edge closes
// it (its life is recorded), ctx ends (it was still within its time: not
// recorded), or it has lived past the read timeout plus slack (counted as
// too long).
func (st *abuseStats) slowConn(ctx context.Context, addr string, trickle bool) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			st.connErrors.Add(1)
			_ = sleep(ctx, 100*time.Millisecond)
		}
		return
	}
	defer c.Close()
	st.opened.Add(1)
	start := time.Now()
	first := "GET /c1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if !trickle {
		first = "POST /c1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
	}
	if _, err := c.Write([]byte(first)); err != nil {
		st.connErrors.Add(1)
		return
	}
	// The edge closing the connection shows as the read returning (EOF or
	// a reset, possibly after an error answer).
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(edgeReadTimeout + closeSlack)
	defer limit.Stop()
	for {
		select {
		case <-closed:
			st.mu.Lock()
			st.lives = append(st.lives, time.Since(start))
			st.mu.Unlock()
			return
		case <-ctx.Done():
			return
		case <-limit.C:
			st.tooLong.Add(1)
			return
		case <-tick.C:
			if trickle {
				// One byte of an endless header block; a write error means
				// the edge closed, which the reader reports.
				_, _ = c.Write([]byte("x"))
			}
		}
	}
}

// bigHeaders sends bigHeaderRate requests/s for a known code, each with a
// header block of bigHeaderBytes, and counts the answers' statuses.
func (st *abuseStats) bigHeaders(ctx context.Context, base string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	big := strings.Repeat("a", bigHeaderBytes)
	tick := time.NewTicker(time.Second / bigHeaderRate)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", base+"/c"+strconv.Itoa(1+i%100), nil)
			req.Header.Set("X-Filler", big)
			st.bigSent.Add(1)
			status := "error"
			resp, err := cl.Do(req)
			switch {
			case err == nil:
				status = strconv.Itoa(resp.StatusCode)
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
			case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
				// The edge answered 431 and closed while the client was
				// still writing the rest of its headers: the kernel turns
				// the unread bytes into a reset, which can reach the client
				// before the answer does, and net/http may then report its
				// own use of the closed connection. Refused either way.
				status = "closed"
			default:
				status = "error: " + err.Error()
			}
			st.mu.Lock()
			if st.bigStatuses == nil {
				st.bigStatuses = map[string]int64{}
			}
			st.bigStatuses[status]++
			st.mu.Unlock()
		}()
	}
}
