package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qredge/qredge/loadtest"
)

// apiDo sends a request to the API with the stack's key.
func (s *stack) apiDo(method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, s.apiURL()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	return httpc.Do(req)
}

// apiGet GETs path from the API into v.
func (s *stack) apiGet(path string, v any) error {
	resp, err := s.apiDo("GET", path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// apiSend sends a request with a JSON body to the API and wants status.
func (s *stack) apiSend(method, path, body string, status int) error {
	resp, err := s.apiDo(method, path, strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	return nil
}

// countLinks pages through GET /api/v1/links.
func (s *stack) countLinks() (int, error) {
	n, cursor := 0, ""
	for {
		var page struct {
			Links      []json.RawMessage `json:"links"`
			NextCursor string            `json:"next_cursor"`
		}
		p := "/api/v1/links?limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := s.apiGet(p, &page); err != nil {
			return n, fmt.Errorf("cannot list links: %w", err)
		}
		n += len(page.Links)
		if page.NextCursor == "" {
			return n, nil
		}
		cursor = page.NextCursor
	}
}

// scansCounted sums the analytics totals of the last 24 hours over the top
// links (with at most 1,000 links seeded, every scanned link is in it).
func (s *stack) scansCounted() (int64, error) {
	var top struct {
		Links []struct {
			Total int64 `json:"total"`
		} `json:"links"`
	}
	if err := s.apiGet("/api/v1/stats/top?limit=1000", &top); err != nil {
		return 0, fmt.Errorf("cannot read the top links: %w", err)
	}
	var sum int64
	for _, l := range top.Links {
		sum += l.Total
	}
	return sum, nil
}

// waitCounted waits until the analytics total reaches want, or stops
// growing for 30 s, or 180 s pass; then it reads it once more after a
// second, for anything counted twice to show.
func (s *stack) waitCounted(ctx context.Context, want int64) (int64, error) {
	deadline := time.Now().Add(180 * time.Second)
	last, lastChange := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n, err := s.scansCounted()
		if err == nil {
			if n >= want {
				break
			}
			if n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > 30*time.Second {
				break
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	time.Sleep(time.Second)
	return s.scansCounted()
}

// spoolsEmpty reports whether both edges answer /metrics and have nothing
// left in their spools.
func (s *stack) spoolsEmpty() bool {
	for _, port := range s.edgeAdmin {
		b, ok := scrape(port, "qredge_spool_bytes ")["spool_bytes"]
		if !ok || b != 0 {
			return false
		}
	}
	return true
}

// settle waits until the consumer has read nothing new (applied, duplicate
// or poison) for 3 s, at most 60 s: the replay of a spool can still be
// arriving after the totals reached the scans sent.
func (s *stack) settle(ctx context.Context) error {
	read := func() float64 {
		var n float64
		for _, v := range s.analyticsEvents() {
			n += v
		}
		return n
	}
	last, since := read(), time.Now()
	return waitUntil(ctx, 60*time.Second, "the consumer to go idle", func() bool {
		if n := read(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= 3*time.Second
	})
}

// redisCalls returns the calls of each command from INFO commandstats.
func (s *stack) redisCalls() (map[string]int64, error) {
	out, err := s.redisCLI("INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				m[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return m, nil
}

// redirects counts the 3xx answers of a report: the scans that must each
// become one counted event.
func redirects(c *loadtest.Counts) int64 {
	var n int64
	for _, st := range []string{"301", "302", "307", "308"} {
		n += c.Statuses[st]
	}
	return n
}

// edgeEvents sums the event counters of both edges' /metrics
// (qredge_events_total by stage, qredge_events_dropped_total by reason,
// qredge_spool_corrupt_bytes_total, qredge_kafka_write_errors_total):
// since each edge's last start; and qredge_spool_bytes, the bytes still
// in their spools.
func (s *stack) edgeEvents() map[string]float64 {
	m := map[string]float64{}
	for _, port := range s.edgeAdmin {
		for k, v := range scrape(port, "qredge_events_total{", "qredge_events_dropped_total{", "qredge_spool_corrupt_bytes_total ", "qredge_kafka_write_errors_total ", "qredge_spool_bytes ") {
			m[k] += v
		}
	}
	return m
}

// analyticsEvents is the consumer's qredge_analytics_events_total by
// result (applied, duplicate, poison) since its last start.
func (s *stack) analyticsEvents() map[string]float64 {
	return scrape(s.anAdmin, "qredge_analytics_events_total{")
}

// scrape reads the samples of the admin port's /metrics whose lines start
// with one of prefixes, named without "qredge_" and "_total", a label
// value after a colon ("events:spooled").
func scrape(port int, prefixes ...string) map[string]float64 {
	m := map[string]float64{}
	resp, err := httpc.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		return m
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(b), "\n") {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			// One label: name{label="value"} becomes name:value.
			if k := strings.IndexByte(name, '"'); k > j {
				name = name[:j] + ":" + strings.TrimSuffix(name[k+1:], "\"}")
			}
		}
		name = strings.Replace(strings.TrimPrefix(name, "qredge_"), "_total", "", 1)
		m[name] += v
	}
	return m
}
