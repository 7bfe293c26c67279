package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/qredge/qredge/store"
	"github.com/qredge/qredge/store/linkfile"
)

// readOnlyFields may appear in GET responses but not in writes.
var readOnlyFields = []string{"version", "created_at", "updated_at", "short_url", "qr_url", "password_protected", "scan_limit_reached_at"}

// linkJSON is a link as the API returns it: never with its password hash.
type linkJSON struct {
	*store.Link
	PasswordProtected bool   `json:"password_protected"`
	ShortURL          string `json:"short_url"`
	QRURL             string `json:"qr_url"`
}

func (s *Server) linkJSON(l *store.Link) linkJSON {
	return linkJSON{Link: l.Redacted(), PasswordProtected: l.PasswordHash != "", ShortURL: s.ShortURL(l), QRURL: s.QRURL(l)}
}

// ShortURL returns the URL that redirects through l.
func (s *Server) ShortURL(l *store.Link) string {
	if l.Domain == "" {
		return s.cfg.PublicURL + "/" + l.Code
	}
	scheme := "https"
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	return scheme + "://" + l.Domain + "/" + l.Code
}

func (s *Server) linkLocation(l *store.Link) string {
	loc := "/api/v1/links/" + l.Code
	if l.Domain != "" {
		loc += "?domain=" + url.QueryEscape(l.Domain)
	}
	return loc
}

// writableObject decodes a write body as a JSON object, refusing other
// JSON values (with notObject as the message) and the fields in readOnly,
// which only the server may set.
func writableObject[V any](body []byte, notObject string, readOnly []string) (map[string]V, error) {
	var obj map[string]V
	if err := json.Unmarshal(body, &obj); err != nil {
		if _, isType := err.(*json.UnmarshalTypeError); isType {
			return nil, badRequest("", "%s", notObject)
		}
		return nil, jsonError(err)
	}
	for _, f := range readOnly {
		if _, ok := obj[f]; ok {
			return nil, badRequest(f, "read-only: the server sets it")
		}
	}
	return obj, nil
}

// decodeLinkInput decodes a link a client writes: a JSON object (else
// notObject is the message), without the fields only the server sets, and
// without unknown fields.
func decodeLinkInput(b []byte, notObject string) (*linkfile.Input, error) {
	if _, err := writableObject[json.RawMessage](b, notObject, readOnlyFields); err != nil {
		return nil, err
	}
	var in linkfile.Input
	if err := decodeStrict(b, &in); err != nil {
		return nil, err
	}
	return &in, nil
}

func (s *Server) createLink(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	in, err := decodeLinkInput(body, "request body must be a JSON object")
	if err != nil {
		return err
	}
	generate := in.Code == ""
	var created *store.Link
	for attempt := 0; ; attempt++ {
		l := in.Link()
		if generate {
			l.Code = store.NewCode()
		}
		if err := s.cfg.Policy.ValidateLink(l); err != nil {
			return err
		}
		created, err = s.store.CreateLink(r.Context(), l)
		if generate && store.ErrorCode(err) == store.ECONFLICT && attempt < 5 {
			continue // a generated code collided: draw another
		}
		if err != nil {
			return err
		}
		break
	}
	w.Header().Set("Location", s.linkLocation(created))
	w.Header().Set("ETag", etag(created.Version))
	return writeJSON(w, http.StatusCreated, s.linkJSON(created))
}

// target returns the (domain, code) a request names.
func target(r *http.Request) (domain, code string, err error) {
	code, domain = r.PathValue("code"), r.URL.Query().Get("domain")
	if err := checkCodeDomain(code, domain); err != nil {
		return "", "", err
	}
	return domain, code, nil
}

// targetVersion is target with the link version an If-Match header pins
// (0: none).
func targetVersion(r *http.Request) (domain, code string, ifVersion uint64, err error) {
	if domain, code, err = target(r); err != nil {
		return "", "", 0, err
	}
	if ifVersion, err = parseIfMatch(r); err != nil {
		return "", "", 0, err
	}
	return domain, code, ifVersion, nil
}

// getLinkAt reads a link and refuses it unless it is at version ifVersion
// (0: any).
func (s *Server) getLinkAt(ctx context.Context, domain, code string, ifVersion uint64) (*store.Link, error) {
	l, err := s.store.GetLink(ctx, domain, code)
	if err != nil {
		return nil, err
	}
	if ifVersion != 0 && l.Version != ifVersion {
		return nil, store.VersionMismatch(l.Version, ifVersion)
	}
	return l, nil
}

// checkCodeDomain refuses a code or domain no link can have (reserved
// codes pass: the store answers them not found). An empty code is not
// checked: path routes never have one, and as a filter it means none.
func checkCodeDomain(code, domain string) error {
	if msg := store.CheckCode(code); code != "" && msg != "" && !store.IsReservedCode(code) {
		return badRequest("code", "%s", msg)
	}
	if msg := store.CheckDomain(domain); msg != "" {
		return badRequest("domain", "%s", msg)
	}
	return nil
}

// queryLimit reads a list route's ?limit=, 0 when absent.
func queryLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > store.MaxListLimit {
		return 0, badRequest("limit", "must be a whole number from 1 to %d, got %q", store.MaxListLimit, v)
	}
	return n, nil
}

func (s *Server) getLink(w http.ResponseWriter, r *http.Request) error {
	domain, code, err := target(r)
	if err != nil {
		return err
	}
	l, err := s.store.GetLink(r.Context(), domain, code)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(l.Version))
	return writeJSON(w, http.StatusOK, s.linkJSON(l))
}

func (s *Server) patchLink(w http.ResponseWriter, r *http.Request) error {
	domain, code, ifVersion, err := targetVersion(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	patch, err := writableObject[any](body, "a PATCH body must be a JSON object (RFC 7396 merge patch)", readOnlyFields)
	if err != nil {
		return err
	}
	// The patch is judged as a create's body is (null deletes, and is
	// taken for any field), so that its errors name the patch's own paths.
	if err := decodeStrict(body, new(linkfile.Input)); err != nil {
		return err
	}
	// Retry when another writer got in between our read and our write, but
	// only when the client did not pin a version itself.
	for attempt := 0; ; attempt++ {
		cur, err := s.getLinkAt(r.Context(), domain, code, ifVersion)
		if err != nil {
			return err
		}
		merged, err := mergeLink(cur, patch)
		if err != nil {
			return err
		}
		if merged.Code != cur.Code {
			return &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: []store.FieldError{{Field: "code", Message: "cannot be changed; create a new link instead"}}}
		}
		if merged.Domain != cur.Domain {
			return &store.Error{Code: store.EINVALID, Message: "invalid link", Fields: []store.FieldError{{Field: "domain", Message: "cannot be changed; create a new link instead"}}}
		}
		if err := s.cfg.Policy.ValidateLink(merged); err != nil {
			return err
		}
		updated, err := s.store.UpdateLink(r.Context(), merged, cur.Version)
		if store.ErrorCode(err) == store.EPRECONDITION && ifVersion == 0 && attempt < 5 {
			continue
		}
		if err != nil {
			return err
		}
		w.Header().Set("ETag", etag(updated.Version))
		return writeJSON(w, http.StatusOK, s.linkJSON(updated))
	}
}

// mergeLink applies a merge patch to the client-visible fields of cur.
func mergeLink(cur *store.Link, patch map[string]any) (*store.Link, error) {
	var drop []string
	if _, ok := patch["password"]; ok {
		// A new password replaces the hash; null removes the protection.
		drop = append(drop, "password_hash")
	}
	in, err := patchInput[linkfile.Input](linkfile.InputOf(cur), patch, drop...)
	if err != nil {
		return nil, err
	}
	l := in.Link()
	keepVariantNames(cur, l)
	if l.MaxScans == cur.MaxScans && l.MaxScansIncludeBots == cur.MaxScansIncludeBots {
		// Only a changed limit is judged afresh, by the next scan.
		l.ScanLimitReachedAt = cur.ScanLimitReachedAt
	}
	return l, nil
}

// keepVariantNames names the unnamed variants of a changed link so that no
// visitor's variant cookie moves to another destination and no variant's
// stats mix with another's: a variant with the destination of one of
// cur's keeps that one's name; a new one is named after its destination
// ("d" and 6 hex digits of its SHA-256), which no earlier version of the
// link gave another destination (positional names would shift when a
// variant is removed).
func keepVariantNames(cur, l *store.Link) {
	taken, used := map[string]bool{}, map[string]bool{}
	for _, v := range l.Variants {
		taken[v.Name], used[v.Name] = true, true
	}
	byDest := map[string][]string{}
	for _, v := range cur.Variants {
		used[v.Name] = true
		byDest[v.Destination] = append(byDest[v.Destination], v.Name)
	}
	for i := range l.Variants {
		v := &l.Variants[i]
		if v.Name != "" {
			continue
		}
		for _, name := range byDest[v.Destination] {
			if !taken[name] {
				v.Name, taken[name] = name, true
				break
			}
		}
		sum := sha256.Sum256([]byte(v.Destination))
		base := "d" + hex.EncodeToString(sum[:3])
		for n := 1; v.Name == ""; n++ {
			name := base
			if n > 1 {
				name += "-" + strconv.Itoa(n) // the same destination twice
			}
			if !used[name] {
				v.Name, used[name], taken[name] = name, true, true
			}
		}
	}
}

func (s *Server) deleteLink(w http.ResponseWriter, r *http.Request) error {
	domain, code, ifVersion, err := targetVersion(r)
	if err != nil {
		return err
	}
	purge, err := s.purgeParam(r)
	if err != nil {
		return err
	}
	if purge != nil {
		// The stats go first, once the link is known to exist at the
		// version asked for: a link whose stats could not be purged is
		// still there to retry on.
		if _, err := s.getLinkAt(r.Context(), domain, code, ifVersion); err != nil {
			return err
		}
		if _, err := purge.PurgeStats(r.Context(), domain, code); err != nil {
			return err
		}
	}
	if err := s.store.DeleteLink(r.Context(), domain, code, ifVersion); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// purgeParam reads purge_stats of a DELETE: the stats purger when it is
// true, nil when false or absent.
func (s *Server) purgeParam(r *http.Request) (store.StatsPurger, error) {
	v := r.URL.Query().Get("purge_stats")
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, badRequest("purge_stats", "must be true or false, got %q", v)
	}
	if !b {
		return nil, nil
	}
	p, ok := s.cfg.Stats.(store.StatsPurger)
	if !ok {
		return nil, badRequest("purge_stats", "this server keeps no scan stats to purge")
	}
	return p, nil
}

// linkList is the body of GET /api/v1/links.
type linkList struct {
	Links      []linkJSON `json:"links"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opt := store.ListOptions{Cursor: q.Get("cursor")}
	var err error
	if opt.Limit, err = queryLimit(q); err != nil {
		return err
	}
	f, err := listFilterOf(q)
	if err != nil {
		return err
	}
	// Several tags (tag=a&tag=b, or tag=a,b): links with all of them. The
	// store lists by the first; the others filter.
	for _, v := range q["tag"] {
		for _, tag := range strings.Split(v, ",") {
			if msg := store.CheckTag(tag); msg != "" {
				return badRequest("tag", "%s", msg)
			}
			if opt.Tag == "" {
				opt.Tag = tag
			} else {
				f.tags, f.on = append(f.tags, tag), true
			}
		}
	}
	page, err := s.listFiltered(r, opt, f)
	if store.ErrorCode(err) == store.EINVALID {
		// The only invalid input a listing has is its cursor.
		return badRequest("cursor", "is not one returned by this API")
	}
	if err != nil {
		return err
	}
	out := linkList{Links: make([]linkJSON, len(page.Links)), NextCursor: page.NextCursor}
	for i, l := range page.Links {
		out.Links[i] = s.linkJSON(l)
	}
	return writeJSON(w, http.StatusOK, out)
}

// listFilter is the search of GET /api/v1/links: q (in the code, the
// title or the destination, any case) and domain (exactly; "-" for links on every
// host).
type listFilter struct {
	q, domain string
	tags      []string // all of which a link must carry
	on        bool
}

// maxSearchScan and maxSearchCalls bound the links one filtered request
// reads and the store pages it asks for; a page may then hold fewer than
// limit links and still have a next_cursor.
const (
	maxSearchScan  = 5000
	maxSearchCalls = 50
)

func listFilterOf(q url.Values) (listFilter, error) {
	f := listFilter{q: strings.ToLower(q.Get("q")), domain: q.Get("domain")}
	if len(f.q) > 200 {
		return f, badRequest("q", "must be at most 200 bytes")
	}
	if f.domain != "" && f.domain != "-" {
		if msg := store.CheckDomain(f.domain); msg != "" {
			return f, badRequest("domain", "%s", msg)
		}
	}
	f.on = f.q != "" || f.domain != ""
	return f, nil
}

func (f listFilter) match(l *store.Link) bool {
	switch {
	case f.domain == "-" && l.Domain != "", f.domain != "" && f.domain != "-" && !strings.EqualFold(f.domain, l.Domain):
		return false
	}
	for _, t := range f.tags {
		if !slices.Contains(l.Tags, t) {
			return false
		}
	}
	return f.q == "" || strings.Contains(strings.ToLower(l.Code), f.q) || strings.Contains(strings.ToLower(l.Destination), f.q) ||
		strings.Contains(strings.ToLower(l.Title), f.q)
}

// listFiltered is the store's page, or with a filter the matches of up to
// maxSearchScan links from opt.Cursor on. Each store page asks for as many
// links as are still wanted, so that the store's cursor after it never
// skips a match.
func (s *Server) listFiltered(r *http.Request, opt store.ListOptions, f listFilter) (*store.LinkPage, error) {
	if !f.on {
		return s.store.ListLinks(r.Context(), opt)
	}
	want := opt.PageLimit()
	out := &store.LinkPage{NextCursor: opt.Cursor}
	for scanned, calls := 0, 0; len(out.Links) < want && scanned < maxSearchScan && calls < maxSearchCalls; calls++ {
		opt.Limit = want - len(out.Links)
		page, err := s.store.ListLinks(r.Context(), opt)
		if err != nil {
			return nil, err
		}
		scanned += len(page.Links)
		for _, l := range page.Links {
			if f.match(l) {
				out.Links = append(out.Links, l)
			}
		}
		out.NextCursor, opt.Cursor = page.NextCursor, page.NextCursor
		if page.NextCursor == "" {
			break
		}
	}
	return out, nil
}
