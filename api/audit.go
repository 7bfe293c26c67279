package api

import (
	"context"
	"net/http"
	"time"

	"github.com/qredge/qredge/store"
)

// The audit: after every successful link change through the API, the
// guarded store appends who (the key's id and name, never the key), when,
// and the link before and after to the store's AuditLog. A bulk creation
// appends one bulk_create entry per created link, in one call. The before
// state of an update or delete is read just before the change; for an
// update it is exact (the write is conditional on its version), for a
// delete without If-Match another writer may change the link in between.
// When the append fails the change stands and the failure is logged.
// Password hashes are replaced by a fingerprint of the hash
// (store.Link.Audited): a password set, changed or removed shows, the hash
// does not.

func (g *guardedStore) record(ctx context.Context, entries ...store.AuditEntry) {
	if g.audit == nil || len(entries) == 0 {
		return
	}
	who := principalOf(ctx)
	now := time.Now().UTC()
	for i := range entries {
		entries[i].Before, entries[i].After = entries[i].Before.Audited(), entries[i].After.Audited()
		entries[i].Time = now
		if who != nil {
			entries[i].KeyID, entries[i].KeyName = who.ID, who.Name
		}
	}
	// The change is committed: record it even if the client has gone.
	if err := g.audit.AppendAudit(context.WithoutCancel(ctx), entries...); err != nil {
		g.srv.log.Error("cannot append to the audit log", "action", entries[0].Action, "code", entries[0].Code, "entries", len(entries), "err", err)
	}
}

// before returns the stored link, or nil, when there is an audit log.
func (g *guardedStore) before(ctx context.Context, domain, code string) *store.Link {
	if g.audit == nil {
		return nil
	}
	l, err := g.Store.GetLink(ctx, domain, code)
	if err != nil {
		return nil
	}
	return l
}

func (g *guardedStore) CreateLink(ctx context.Context, l *store.Link) (*store.Link, error) {
	made, err := g.Store.CreateLink(ctx, l)
	if err == nil {
		g.record(ctx, store.AuditEntry{Action: store.AuditCreate, Code: made.Code, Domain: made.Domain, After: made})
	}
	return made, err
}

func (g *guardedStore) UpdateLink(ctx context.Context, l *store.Link, ifVersion uint64) (*store.Link, error) {
	old := g.before(ctx, l.Domain, l.Code)
	updated, err := g.Store.UpdateLink(ctx, l, ifVersion)
	if err == nil {
		g.record(ctx, store.AuditEntry{Action: store.AuditUpdate, Code: updated.Code, Domain: updated.Domain, Before: old, After: updated})
	}
	return updated, err
}

func (g *guardedStore) DeleteLink(ctx context.Context, domain, code string, ifVersion uint64) error {
	old := g.before(ctx, domain, code)
	err := g.Store.DeleteLink(ctx, domain, code, ifVersion)
	if err == nil {
		g.record(ctx, store.AuditEntry{Action: store.AuditDelete, Code: code, Domain: domain, Before: old})
	}
	return err
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Audit == nil {
		return store.Errorf(store.ENOTFOUND, "this store keeps no audit log")
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Code: q.Get("code"), Domain: q.Get("domain"), Cursor: q.Get("cursor")}
	var err error
	if aq.Limit, err = queryLimit(q); err != nil {
		return err
	}
	if err := checkCodeDomain(aq.Code, aq.Domain); err != nil {
		return err
	}
	page, err := s.cfg.Audit.ListAudit(r.Context(), aq)
	if store.ErrorCode(err) == store.EINVALID {
		return badRequest("cursor", "is not one returned by this API")
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}
