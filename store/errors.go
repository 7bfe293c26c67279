package store

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. The api package maps each code to one HTTP status; nothing
// else should know that mapping.
const (
	EINVALID      = "invalid"             // a value failed validation (422)
	EBADREQUEST   = "bad_request"         // the request itself is malformed (400)
	ENOTFOUND     = "not_found"           // no such link or key (404)
	ECONFLICT     = "conflict"            // the link already exists (409)
	EPRECONDITION = "precondition_failed" // version mismatch on If-Match (412)
	EUNAUTHORIZED = "unauthorized"        // no or unknown API key (401)
	EFORBIDDEN    = "forbidden"           // key lacks the scope (403)
	ETOOLARGE     = "too_large"           // request body over the limit (413)
	EUNAVAILABLE  = "unavailable"         // the store cannot be reached (503)
	EDATASETLOST  = "dataset_lost"        // the store lost the dataset this process has seen (503)
	EINTERNAL     = "internal"            // a bug or an unexpected failure (500)
)

// ENOSPACE is the code of a write refused because the store's disk is full
// (507).
const ENOSPACE = "insufficient_storage"

// FieldError names one field at fault and why, for example
// {Field: "destination", Message: "must be an absolute http or https URL"}.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"detail"`
}

func (fe FieldError) String() string {
	if fe.Field == "" {
		return fe.Message
	}
	return fe.Field + ": " + fe.Message
}

// Error is qredge's domain error: a machine-readable code, a message safe to
// show to API clients, and for validation failures the fields at fault.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, fe := range e.Fields {
		parts[i] = fe.String()
	}
	return strings.Join(parts, "; ")
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Internal errors never
// leak their details.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}

// ErrorFields returns the field errors of err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// LinkNotFound is the ENOTFOUND error of every backend for (domain, code).
func LinkNotFound(domain, code string) error {
	if domain == "" {
		return Errorf(ENOTFOUND, "link %q not found", code)
	}
	return Errorf(ENOTFOUND, "link %q not found on domain %q", code, domain)
}

// LinkExists is the ECONFLICT error of every backend for (domain, code).
func LinkExists(domain, code string) error {
	if domain == "" {
		return Errorf(ECONFLICT, "link %q already exists", code)
	}
	return Errorf(ECONFLICT, "link %q already exists on domain %q", code, domain)
}

// VersionMismatch is the EPRECONDITION error of a write whose If-Match
// version (want) is not the stored one (have).
func VersionMismatch(have, want uint64) error {
	return Errorf(EPRECONDITION, "link was changed: it is at version %d, If-Match asked for %d", have, want)
}
