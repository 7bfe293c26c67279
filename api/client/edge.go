package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// EdgeTable is the link table of a running edge, read from its admin
// listener (GET /links): every link it holds, with versions and times,
// to restore a lost Redis from.
type EdgeTable struct {
	c       *Client
	dataset string
}

// NewEdgeTable returns the table of the edge whose admin listener is
// cfg.URL (no API key is needed). Errors name it "the edge" unless
// cfg.Name says otherwise.
func NewEdgeTable(cfg Config) *EdgeTable {
	if cfg.Name == "" {
		cfg.Name = "the edge"
	}
	return &EdgeTable{c: New(cfg)}
}

// Dataset returns the id of the dataset the edge holds, once ForEachLink
// has read its answer.
func (e *EdgeTable) Dataset() string { return e.dataset }

// ForEachLink calls fn for every link of the table (with tag, when not
// empty); raw is always nil. An answer other than 200 is an *Error with
// the start of its body.
func (e *EdgeTable) ForEachLink(ctx context.Context, tag string, fn func(l *store.Link, raw json.RawMessage) error) error {
	resp, err := e.c.stream(ctx, "GET", "/links", 1024)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
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
