package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// edgeLinks reads the links of a running edge's table from its admin
// listener (GET /links), for an export that restores a lost Redis.
type edgeLinks struct {
	base    string
	http    *http.Client
	dataset string // the dataset the edge holds, from its answer
}

func (e *edgeLinks) createLinks(context.Context, []*store.Link, bool) ([]error, error) {
	return nil, errors.New("BUG: an edge's table is read only")
}

func (e *edgeLinks) forEach(ctx context.Context, tag string, fn func(*store.Link, json.RawMessage) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", e.base+"/links", nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the edge: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("the edge answered %s: %s (is %s its admin listener, --admin-listen?)", resp.Status, b, e.base)
	}
	e.dataset = resp.Header.Get("Qredge-Dataset")
	want, _ := strconv.Atoi(resp.Header.Get("Qredge-Links"))
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), linkfile.MaxJSONLine)
	n := 0
	for sc.Scan() {
		var l struct {
			store.Link
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("line %d of the edge's answer: %w", n+1, err)
		}
		if l.Error != nil {
			return fmt.Errorf("the edge stopped its export: %s", *l.Error)
		}
		n++
		if tag != "" && !slices.Contains(l.Tags, tag) {
			continue
		}
		if err := fn(&l.Link, nil); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the edge's answer was cut after %d links: %w", n, err)
	}
	// The table may change while it is read; a cut answer is much
	// shorter than the count it announced.
	if n < want/2 {
		return fmt.Errorf("the edge's answer ended after %d of its %d links", n, want)
	}
	return nil
}

func (e *edgeLinks) close() error { return nil }
