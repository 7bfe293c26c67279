package api

import (
	"net/http"

	"github.com/qredge/qredge/store"
)

type keyInput struct {
	Name  string `json:"name"`
	Scope string `json:"scope"`
}

// createdKey is the only response that ever carries a key's secret.
type createdKey struct {
	*store.APIKey
	Key string `json:"key"`
}

func checkKeyInput(in *keyInput) error {
	var fields []store.FieldError
	if in.Name == "" || len(in.Name) > 64 || store.HasControl(in.Name) {
		fields = append(fields, store.FieldError{Field: "name", Message: "must be 1 to 64 printable characters"})
	}
	if !store.ValidScope(in.Scope) {
		fields = append(fields, store.FieldError{Field: "scope", Message: "must be read, write or admin"})
	}
	if fields != nil {
		return &store.Error{Code: store.EINVALID, Message: "invalid API key", Fields: fields}
	}
	return nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in keyInput
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if err := checkKeyInput(&in); err != nil {
		return err
	}
	secret, k, err := store.CreateAPIKey(r.Context(), s.store, in.Name, in.Scope)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdKey{APIKey: k, Key: secret})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.store.ListKeys(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.RevokeKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
