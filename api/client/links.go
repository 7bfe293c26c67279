package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// CreateLink creates one link (POST /api/v1/links) and returns it as
// stored.
func (c *Client) CreateLink(ctx context.Context, in *linkfile.Input) (*store.Link, error) {
	var l store.Link
	if err := c.doJSON(ctx, "POST", "/api/v1/links", in, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// bulkAnswer is the answer of POST /api/v1/links/bulk, and of a failed
// atomic one (problem+json with the results of the items at fault).
type bulkAnswer struct {
	Results []struct {
		Index  int                `json:"index"`
		Status int                `json:"status"`
		Code   string             `json:"code"`
		Detail string             `json:"detail"`
		Errors []store.FieldError `json:"errors"`
	} `json:"results"`
}

// CreateLinks creates links in one bulk request (POST
// /api/v1/links/bulk, at most store.MaxBulkLinks) and returns why each
// was not created, nil for the created ones; when atomic and any failed,
// none was created. The error is for the request: an *Error for an answer
// without results, such as 413 for a request too large.
func (c *Client) CreateLinks(ctx context.Context, links []*store.Link, atomic bool) ([]error, error) {
	in := make([]*linkfile.Input, len(links))
	for i, l := range links {
		in[i] = linkfile.InputOf(l)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	resp, b, err := c.do(ctx, "POST", "/api/v1/links/bulk?atomic="+strconv.FormatBool(atomic), body)
	if err != nil {
		return nil, err
	}
	var ans bulkAnswer
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusConflict, http.StatusUnprocessableEntity:
		if json.Unmarshal(b, &ans) == nil && len(ans.Results) > 0 {
			break
		}
		fallthrough
	default:
		return nil, answerError(resp, b)
	}
	errs := make([]error, len(links))
	for _, r := range ans.Results {
		if r.Index < 0 || r.Index >= len(links) {
			return nil, fmt.Errorf("server answered a result for item %d of %d", r.Index, len(links))
		}
		if r.Status >= 300 {
			e := &store.Error{Code: r.Code, Message: r.Detail, Fields: r.Errors}
			if r.Code != store.EINVALID && len(r.Errors) == 1 {
				// A conflict: the message names the code already.
				e.Message, e.Fields = r.Errors[0].Message, nil
			}
			errs[r.Index] = e
		}
	}
	return errs, nil
}

// ForEachLink calls fn for every link (with tag, when not empty), page by
// page of GET /api/v1/links, with the link's JSON as the API sent it
// (short_url and qr_url included).
func (c *Client) ForEachLink(ctx context.Context, tag string, fn func(l *store.Link, raw json.RawMessage) error) error {
	q := url.Values{"limit": {strconv.Itoa(store.MaxListLimit)}}
	if tag != "" {
		q.Set("tag", tag)
	}
	for {
		links, next, err := c.LinkPage(ctx, q)
		if err != nil {
			return err
		}
		for _, raw := range links {
			var l store.Link
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("cannot decode a link: %w", err)
			}
			if err := fn(&l, raw); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.Set("cursor", next)
	}
}

// LinkPage is one page of GET /api/v1/links?q (limit, cursor, tag, q,
// domain): the links' JSON as the API sent it, and the next cursor ("" on
// the last page).
func (c *Client) LinkPage(ctx context.Context, q url.Values) ([]json.RawMessage, string, error) {
	b, _, err := c.Call(ctx, "GET", "/api/v1/links?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	var page struct {
		Links      []json.RawMessage `json:"links"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, "", fmt.Errorf("cannot decode a page of links: %w", err)
	}
	return page.Links, page.NextCursor, nil
}
