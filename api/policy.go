package api

import (
	"net/http"

	"github.com/qredge/qredge/store"
)

// maxViolations is the most violations GET /api/v1/policy/violations
// lists; links_at_fault still counts them all.
const maxViolations = 1000

// violationList is the body of GET /api/v1/policy/violations.
type violationList struct {
	LinksAtFault int               `json:"links_at_fault"`
	Truncated    bool              `json:"truncated"`
	Violations   []store.Violation `json:"violations"`
}

// policyViolations checks every stored link against the destination policy
// now. Links at fault are listed, never changed: the operator decides.
func (s *Server) policyViolations(w http.ResponseWriter, r *http.Request) error {
	out := violationList{Violations: []store.Violation{}}
	n, err := s.cfg.Policy.Scan(r.Context(), s.store.ForEachLink, func(v store.Violation) {
		if len(out.Violations) < maxViolations {
			out.Violations = append(out.Violations, v)
		} else {
			out.Truncated = true
		}
	})
	if err != nil {
		return err
	}
	out.LinksAtFault = n
	return writeJSON(w, http.StatusOK, out)
}
