package api

import (
	"encoding/json"
	"net/http"

	"github.com/qredge/qredge/store"
)

// statusOf is the one mapping from error codes to HTTP statuses.
var statusOf = map[string]int{
	store.EBADREQUEST:    http.StatusBadRequest,
	store.EINVALID:       http.StatusUnprocessableEntity,
	store.ENOTFOUND:      http.StatusNotFound,
	store.ECONFLICT:      http.StatusConflict,
	store.EPRECONDITION:  http.StatusPreconditionFailed,
	store.EUNAUTHORIZED:  http.StatusUnauthorized,
	store.EFORBIDDEN:     http.StatusForbidden,
	store.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	store.EUNAVAILABLE:   http.StatusServiceUnavailable,
	store.ENOSPACE:       http.StatusInsufficientStorage,
	store.EDATASETLOST:   http.StatusServiceUnavailable,
	store.EINTERNAL:      http.StatusInternalServerError,
	"method_not_allowed": http.StatusMethodNotAllowed,
	EUNSUPPORTED:         http.StatusUnsupportedMediaType,
	ERATELIMITED:         http.StatusTooManyRequests,
}

// EUNSUPPORTED is the error code of a request body in a media type the
// route does not take (415).
const EUNSUPPORTED = "unsupported_media_type"

// Problem is an RFC 9457 problem details object, with qredge's error code
// and, for validation errors, the fields at fault.
type Problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail"`
	Code   string             `json:"code"`
	Errors []store.FieldError `json:"errors,omitempty"`
}

// ProblemContentType is the media type of every error body.
const ProblemContentType = "application/problem+json"

// NewProblem returns the problem for err as clients see it.
func NewProblem(err error) Problem {
	code := store.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, store.EINTERNAL
	}
	p := Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: store.ErrorMessage(err),
		Code:   code,
		Errors: store.ErrorFields(err),
	}
	if code == store.EINTERNAL {
		p.Detail = "internal error; the server log has the details"
	}
	return p
}

// WriteProblem writes p as the response.
func WriteProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qredge"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeError logs internal errors and writes err as a problem.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := NewProblem(err)
	if p.Code == store.EINTERNAL {
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteProblem(w, p)
}

func badRequest(field, format string, args ...any) error {
	e := store.Errorf(store.EBADREQUEST, format, args...)
	if field != "" {
		e.Fields = []store.FieldError{{Field: field, Message: e.Message}}
	}
	return e
}
