package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// bulkItem is one link of a bulk request on its way to the store.
type bulkItem struct {
	line int // CSV line, 0 for JSON
	link *store.Link
	gen  bool  // the code was generated: draw another on a collision
	err  error // why it cannot be created, once known
	made *store.Link
}

// BulkResult is the outcome of one item of POST /api/v1/links/bulk.
type BulkResult struct {
	Index  int                `json:"index"`
	Line   int                `json:"line,omitempty"`
	Status int                `json:"status"`
	Link   *linkJSON          `json:"link,omitempty"`
	Code   string             `json:"code,omitempty"`
	Detail string             `json:"detail,omitempty"`
	Errors []store.FieldError `json:"errors,omitempty"`
}

// BulkResponse is the body of POST /api/v1/links/bulk. When an atomic
// request fails, it is merged into the problem+json body, and Results
// lists only the items at fault.
type BulkResponse struct {
	Atomic  bool         `json:"atomic"`
	Created int          `json:"created"`
	Failed  int          `json:"failed"`
	Results []BulkResult `json:"results"`
}

// bulkProblem is the problem+json body of a failed atomic request.
type bulkProblem struct {
	Problem
	BulkResponse
}

func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request) error {
	atomic := true
	if v := r.URL.Query().Get("atomic"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("atomic", "must be true or false, got %q", v)
		}
		atomic = b
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	items, err := readBulk(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	validateBulk(items, s.cfg.Policy)
	failed := countFailed(items)
	if failed > 0 && atomic {
		// Nothing will be created: name the links that exist already
		// beside the invalid ones, so that one answer lists every fault.
		if err := markExisting(r.Context(), s.store, items); err != nil {
			return err
		}
		failed = countFailed(items)
	}
	if failed == 0 || !atomic {
		if err := createBulk(r, s.store, items, atomic); err != nil {
			return err
		}
		failed = countFailed(items)
	}
	resp := BulkResponse{Atomic: atomic, Created: len(items) - failed, Failed: failed}
	if atomic && failed > 0 {
		resp.Created = 0
	}
	status := http.StatusOK
	if atomic {
		status = http.StatusCreated
	}
	invalid := false
	for i, it := range items {
		res := BulkResult{Index: i, Line: it.line, Status: http.StatusCreated}
		if it.err != nil {
			p := NewProblem(it.err)
			res.Status, res.Code, res.Detail, res.Errors = p.Status, p.Code, p.Detail, p.Errors
			invalid = invalid || p.Status != http.StatusConflict
		} else if atomic && failed > 0 {
			continue // an atomic failure lists the items at fault only
		} else {
			lj := s.linkJSON(it.made)
			res.Link = &lj
		}
		resp.Results = append(resp.Results, res)
	}
	if atomic && failed > 0 {
		p := NewProblem(store.Errorf(store.ECONFLICT, "%d of %d links exist already or repeat a code of this request; nothing was created", failed, len(items)))
		if invalid {
			p = NewProblem(store.Errorf(store.EINVALID, "%d of %d links are invalid or exist already; nothing was created (results names each)", failed, len(items)))
		}
		w.Header().Set("Content-Type", ProblemContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(p.Status)
		return json.NewEncoder(w).Encode(bulkProblem{Problem: p, BulkResponse: resp})
	}
	return writeJSON(w, status, resp)
}

func countFailed(items []*bulkItem) int {
	n := 0
	for _, it := range items {
		if it.err != nil {
			n++
		}
	}
	return n
}

// looksLikeJSON reports whether body starts, after white space, as JSON
// does.
func looksLikeJSON(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && (b[0] == '[' || b[0] == '{' || b[0] == '"')
}

// readBulk parses a bulk body: a JSON array of links, or CSV with a header
// row (Content-Type text/csv). Malformed bodies fail as a whole; items
// that cannot be read fail alone.
func readBulk(contentType string, body []byte) ([]*bulkItem, error) {
	mt := "application/json"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return nil, badRequest("Content-Type", "cannot parse %q", contentType)
		}
	}
	// A body that is no JSON array, sent without a type or as curl -d
	// sends it (form-urlencoded), is read as CSV.
	if (contentType == "" || mt == "application/x-www-form-urlencoded") && !looksLikeJSON(body) {
		mt = "text/csv"
	}
	var items []*bulkItem
	switch mt {
	case "application/json", "application/x-www-form-urlencoded": // curl -d sends the latter
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return nil, badRequest("", "the body must be a JSON array of links")
			}
			return nil, jsonError(err)
		}
		if len(raw) > store.MaxBulkLinks {
			return nil, tooMany(len(raw))
		}
		for _, b := range raw {
			items = append(items, jsonItem(b))
		}
	case "text/csv":
		rd, err := linkfile.NewCSVReader(bytes.NewReader(body))
		if err != nil {
			return nil, badRequest("", "%v", err)
		}
		for {
			l, err := rd.Read()
			if err == io.EOF {
				break
			}
			var re *linkfile.RowError
			switch {
			case errors.As(err, &re):
				items = append(items, &bulkItem{line: re.Line, link: l, err: &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: re.Fields}})
			case err != nil:
				return nil, badRequest("", "line %d: %v", rd.Line(), err)
			default:
				items = append(items, &bulkItem{line: rd.Line(), link: l})
			}
			if len(items) > store.MaxBulkLinks {
				return nil, tooMany(len(items))
			}
		}
	default:
		return nil, store.Errorf(EUNSUPPORTED, "Content-Type %q is not supported: send application/json (an array of links) or text/csv (a header row, then one link per row)", mt)
	}
	if len(items) == 0 {
		return nil, badRequest("", "the request holds no links")
	}
	return items, nil
}

func tooMany(n int) error {
	return badRequest("", "at most %d links per request, got %d or more: split the request", store.MaxBulkLinks, n)
}

// jsonItem decodes one element of a JSON bulk body as POST /api/v1/links
// decodes its body.
func jsonItem(b json.RawMessage) *bulkItem {
	it := &bulkItem{}
	in, err := decodeLinkInput(b, "each item must be a JSON object")
	if err != nil {
		it.err = err
		return it
	}
	it.link = in.Link()
	return it
}

// validateBulk validates every readable item against the link model and
// the destination policy, draws the missing codes and refuses a (domain,
// code) pair given twice.
func validateBulk(items []*bulkItem, policy *store.DestinationPolicy) {
	seen := make(map[string]int, len(items))
	for i, it := range items {
		if it.err != nil {
			continue
		}
		if it.link.Code == "" {
			it.link.Code, it.gen = store.NewCode(), true
		}
		if err := policy.ValidateLink(it.link); err != nil {
			it.err = err
			continue
		}
		key := it.link.Key()
		if j, dup := seen[key]; dup {
			it.err = &store.Error{Code: store.ECONFLICT, Message: fmt.Sprintf("item %d has the same code and domain", j),
				Fields: []store.FieldError{{Field: "code", Message: fmt.Sprintf("repeats item %d of this request", j)}}}
			continue
		}
		seen[key] = i
	}
}

// markExisting sets the error of the items without one whose (domain,
// code) is stored. Items with a generated code are left alone: a
// collision would only draw another code.
func markExisting(ctx context.Context, bc store.BulkCreator, items []*bulkItem) error {
	var todo []*bulkItem
	var links []*store.Link
	for _, it := range items {
		if it.err == nil && !it.gen {
			todo = append(todo, it)
			links = append(links, it.link)
		}
	}
	if len(links) == 0 {
		return nil
	}
	exist, err := bc.LinksExist(ctx, links)
	if err != nil {
		return err
	}
	for i, it := range todo {
		if exist[i] {
			it.err = linkExists(it.link)
		}
	}
	return nil
}

// linkExists is the error of an item whose (domain, code) is stored,
// naming the code as the field at fault.
func linkExists(l *store.Link) error {
	msg := store.ErrorMessage(store.LinkExists(l.Domain, l.Code))
	return &store.Error{Code: store.ECONFLICT, Message: msg, Fields: []store.FieldError{{Field: "code", Message: msg}}}
}

// createBulk creates the items without an error, drawing new codes for
// generated ones that collided (a few times at most).
func createBulk(r *http.Request, bc store.BulkCreator, items []*bulkItem, atomic bool) error {
	for attempt := 0; ; attempt++ {
		var todo []*bulkItem
		for _, it := range items {
			if it.err == nil && it.made == nil {
				todo = append(todo, it)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		links := make([]*store.Link, len(todo))
		for i, it := range todo {
			links[i] = it.link
		}
		made, errs, err := bc.CreateLinks(r.Context(), links, atomic)
		if err != nil {
			return err
		}
		redraw := false
		for i, it := range todo {
			switch {
			case errs[i] == nil:
				it.made = made[i]
			case it.gen && store.ErrorCode(errs[i]) == store.ECONFLICT && attempt < 5:
				it.link.Code, redraw = store.NewCode(), true
			case store.ErrorCode(errs[i]) == store.ECONFLICT:
				it.err = linkExists(it.link)
			default:
				it.err = errs[i]
			}
		}
		if !redraw {
			return nil
		}
		if atomic && countFailed(items) > 0 {
			return nil // a real conflict: nothing is created anyway
		}
		if atomic {
			for _, it := range todo {
				it.made = nil // the whole call wrote nothing: send it again
			}
		}
	}
}
