package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/qredge/qredge/store"
)

// The webhook routes (admin scope): the webhooks themselves, their dead
// letters and their attempt log. A webhook's secret is shown only in the
// answer that created it; every other answer leaves it out. Destinations
// pass store.ValidateWebhook and the address policy
// (store.CheckWebhookURL) before they are stored.

// webhookReadOnly may appear in GET responses but not in writes.
var webhookReadOnly = []string{"id", "version", "created_at", "updated_at"}

// webhookInput is a webhook as a client writes it.
type webhookInput struct {
	URL        string   `json:"url"`
	Secret     string   `json:"secret,omitempty"`
	Events     []string `json:"events"`
	Codes      []string `json:"codes,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	SampleRate float64  `json:"sample_rate,omitempty"`
	Disabled   bool     `json:"disabled"`
}

func (in *webhookInput) webhook() *store.Webhook {
	return &store.Webhook{URL: in.URL, Secret: in.Secret, Events: in.Events, Codes: in.Codes,
		Tags: in.Tags, SampleRate: in.SampleRate, Disabled: in.Disabled}
}

func webhookInputOf(w *store.Webhook) *webhookInput {
	return &webhookInput{URL: w.URL, Secret: w.Secret, Events: w.Events, Codes: w.Codes,
		Tags: w.Tags, SampleRate: w.SampleRate, Disabled: w.Disabled}
}

// redactWebhook returns w without its secret.
func redactWebhook(w *store.Webhook) *store.Webhook {
	c := w.Clone()
	c.Secret = ""
	return c
}

// webhooksOnly answers the 404 of a deployment without webhook stores
// before h runs, so that h may use s.cfg.Webhooks and s.cfg.Deliveries.
func (s *Server) webhooksOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.Webhooks == nil || s.cfg.Deliveries == nil {
			return store.Errorf(store.ENOTFOUND, "this deployment has no webhooks")
		}
		return h(w, r)
	}
}

// webhookChanged tells a running deliverer to reload, after every
// successful write: of a webhook, and of its dead letters (a redelivered
// batch waits in the outbox).
func (s *Server) webhookChanged() {
	if s.cfg.OnWebhookChange != nil {
		s.cfg.OnWebhookChange()
	}
}

// decodeWebhookObject decodes a webhook write body into in, refusing
// what writableObject refuses and unknown fields. It returns the object
// as well, for a merge patch.
func decodeWebhookObject(body []byte, notObject string, in *webhookInput) (map[string]any, error) {
	obj, err := writableObject[any](body, notObject, webhookReadOnly)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(body, in); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkWebhook validates w and applies the address policy to its URL.
func (s *Server) checkWebhook(ctx context.Context, w *store.Webhook) error {
	if err := store.ValidateWebhook(w); err != nil {
		return err
	}
	return s.checkWebhookURL(ctx, w.URL)
}

// webhookLookupTimeout bounds the host lookup of the address policy.
const webhookLookupTimeout = 5 * time.Second

// checkWebhookURL applies the address policy to rawURL, giving its host
// lookup s.webhookLookup at most: a lookup that takes longer refuses the
// URL, as one that fails does.
func (s *Server) checkWebhookURL(ctx context.Context, rawURL string) error {
	lctx, cancel := context.WithTimeout(ctx, s.webhookLookup)
	defer cancel()
	err := store.CheckWebhookURL(lctx, rawURL, s.cfg.WebhookAllowPrivate, s.webhookResolver)
	if err != nil && ctx.Err() == nil && lctx.Err() != nil {
		return &store.Error{Code: store.EINVALID, Message: "invalid webhook",
			Fields: []store.FieldError{{Field: "url", Message: fmt.Sprintf("the host lookup took longer than %v", s.webhookLookup)}}}
	}
	return err
}

func webhookLocation(w *store.Webhook) string { return "/api/v1/webhooks/" + w.ID }

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	ws := s.cfg.Webhooks
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var in webhookInput
	if _, err := decodeWebhookObject(body, "request body must be a JSON object", &in); err != nil {
		return err
	}
	h := in.webhook()
	if h.Secret == "" {
		h.Secret = store.NewWebhookSecret()
	}
	if err := s.checkWebhook(r.Context(), h); err != nil {
		return err
	}
	created, err := ws.CreateWebhook(r.Context(), h)
	if err != nil {
		return err
	}
	s.webhookChanged()
	w.Header().Set("Location", webhookLocation(created))
	w.Header().Set("ETag", etag(created.Version))
	// The only answer that shows the secret.
	return writeJSON(w, http.StatusCreated, created)
}

// webhookList is the body of GET /api/v1/webhooks.
type webhookList struct {
	Webhooks []*store.Webhook `json:"webhooks"`
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	ws := s.cfg.Webhooks
	list, err := ws.ListWebhooks(r.Context())
	if err != nil {
		return err
	}
	out := webhookList{Webhooks: make([]*store.Webhook, len(list))}
	for i, h := range list {
		out.Webhooks[i] = redactWebhook(h)
	}
	return writeJSON(w, http.StatusOK, out)
}

// webhookOf returns the webhook the path names.
func (s *Server) webhookOf(r *http.Request) (*store.Webhook, error) {
	return s.cfg.Webhooks.GetWebhook(r.Context(), r.PathValue("id"))
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(h.Version))
	return writeJSON(w, http.StatusOK, redactWebhook(h))
}

func (s *Server) patchWebhook(w http.ResponseWriter, r *http.Request) error {
	ws := s.cfg.Webhooks
	ifVersion, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	// The patch is judged as a create's body is (null deletes, and is
	// taken for any field), so that its errors name the patch's own paths.
	patch, err := decodeWebhookObject(body, "a PATCH body must be a JSON object (RFC 7396 merge patch)", new(webhookInput))
	if err != nil {
		return err
	}
	// Retry when another writer got in between our read and our write, but
	// only when the client did not pin a version itself.
	for attempt := 0; ; attempt++ {
		cur, err := ws.GetWebhook(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return store.WebhookVersionMismatch(cur.Version, ifVersion)
		}
		merged, err := mergeWebhook(cur, patch)
		if err != nil {
			return err
		}
		if err := store.ValidateWebhook(merged); err != nil {
			return err
		}
		// The address policy judges a new destination, and one that is
		// switched on again; an unchanged one is not looked up again, so
		// that a webhook whose host stopped resolving can still be
		// switched off.
		if merged.URL != cur.URL || (cur.Disabled && !merged.Disabled) {
			if err := s.checkWebhookURL(r.Context(), merged.URL); err != nil {
				return err
			}
		}
		merged.ID = cur.ID
		updated, err := ws.UpdateWebhook(r.Context(), merged, cur.Version)
		if store.ErrorCode(err) == store.EPRECONDITION && ifVersion == 0 && attempt < 5 {
			continue
		}
		if err != nil {
			return err
		}
		s.webhookChanged()
		w.Header().Set("ETag", etag(updated.Version))
		return writeJSON(w, http.StatusOK, redactWebhook(updated))
	}
}

// mergeWebhook applies a merge patch to the client-visible fields of cur
// (its secret included: a patch without one keeps it).
func mergeWebhook(cur *store.Webhook, patch map[string]any) (*store.Webhook, error) {
	in, err := patchInput[webhookInput](webhookInputOf(cur), patch)
	if err != nil {
		return nil, err
	}
	return in.webhook(), nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	ws := s.cfg.Webhooks
	ifVersion, err := parseIfMatch(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if ifVersion != 0 {
		// The store's delete is unconditional: another writer may change
		// the webhook between this check and the delete.
		cur, err := ws.GetWebhook(r.Context(), id)
		if err != nil {
			return err
		}
		if cur.Version != ifVersion {
			return store.WebhookVersionMismatch(cur.Version, ifVersion)
		}
	}
	if err := ws.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	s.webhookChanged()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = store.DefaultListLimit
	}
	h, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	page, err := s.cfg.Deliveries.ListDeadLetters(r.Context(), h.ID, limit, q.Get("cursor"))
	if store.ErrorCode(err) == store.EINVALID {
		return badRequest("cursor", "is not one returned by this API")
	}
	if err != nil {
		return err
	}
	if page.DeadLetters == nil {
		page.DeadLetters = []*store.DeadLetter{}
	}
	return writeJSON(w, http.StatusOK, page)
}

func (s *Server) redeliverDeadLetter(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	b, err := s.cfg.Deliveries.RequeueDeadLetter(r.Context(), h.ID, r.PathValue("dlid"), time.Now().UTC())
	if err != nil {
		return err
	}
	s.webhookChanged()
	return writeJSON(w, http.StatusAccepted, b)
}

func (s *Server) discardDeadLetter(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Deliveries.TakeDeadLetter(r.Context(), h.ID, r.PathValue("dlid")); err != nil {
		return err
	}
	s.webhookChanged()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// attemptList is the body of GET /api/v1/webhooks/{id}/attempts.
type attemptList struct {
	Attempts []store.Attempt `json:"attempts"`
}

func (s *Server) listAttempts(w http.ResponseWriter, r *http.Request) error {
	h, err := s.webhookOf(r)
	if err != nil {
		return err
	}
	as, err := s.cfg.Deliveries.ListAttempts(r.Context(), h.ID)
	if err != nil {
		return err
	}
	if as == nil {
		as = []store.Attempt{}
	}
	return writeJSON(w, http.StatusOK, attemptList{Attempts: as})
}
