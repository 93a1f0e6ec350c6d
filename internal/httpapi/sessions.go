package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/web"
)

// sessionRevokeRequest is the body of POST /v1/sessions/revoke
// (SessionRevoke in api/openapi.yaml).
type sessionRevokeRequest struct {
	Token string `json:"token"`
}

// meta describes the API caller for security events and guess limiting.
func (s *server) meta(r *http.Request) sessions.Meta {
	a := s.actor(r)
	return sessions.Meta{IP: a.IP, UserAgent: a.UserAgent, Actor: a.Name}
}

func (s *server) createSession(w http.ResponseWriter, r *http.Request, req *sessions.CreateParams) error {
	tenantID := principal(r).TenantID
	if err := s.liveCeiling(tenantID, 0); err != nil {
		return err
	}
	out, err := s.Sessions.Create(r.Context(), tenantID, *req, s.meta(r))
	if err != nil {
		return err
	}
	s.created(tenantID, &out)
	noStore(w)
	return writeJSON(w, http.StatusCreated, &out)
}

// liveCeiling refuses a create when the tenant is at its live_sessions
// ceiling with more sessions on top of its count (the items of a batch
// before this one).
func (s *server) liveCeiling(tenantID string, more int) error {
	if snap, ok := s.Cache.Tenant(tenantID); ok && s.live.full(tenantID, snap.Limits.LiveSessions-more) {
		return errLiveSessionsCeiling(snap.Limits.LiveSessions)
	}
	return nil
}

// created counts the session c for the live_sessions ceiling and makes
// its Evicted a list ([], not null).
func (s *server) created(tenantID string, c *sessions.Created) {
	s.live.created(tenantID, len(c.Evicted))
	if c.Evicted == nil {
		c.Evicted = []string{}
	}
}

func (s *server) verifySession(w http.ResponseWriter, r *http.Request, req *sessions.VerifyParams) error {
	noStore(w)
	out, err := s.Sessions.Verify(r.Context(), principal(r).TenantID, *req, s.meta(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &out)
}

// sessionCreateBatch is the body of POST /v1/sessions/create-batch
// (SessionCreateBatch in api/openapi.yaml).
type sessionCreateBatch struct {
	Items []sessions.CreateParams `json:"items"`
}

// createSessions answers each item as createSession would (the tenant's
// live_sessions ceiling, then the engine), with one HTTP request, one
// tenant rate check of len(items) requests and one store round trip. The
// ceiling counts each item that reached the engine before an item as
// created: an eviction or a refusal by the user's cap among them frees no
// room for the items after it, only for later calls. It refuses an
// Idempotency-Key, which it would not honour.
func (s *server) createSessions(w http.ResponseWriter, r *http.Request, req *sessionCreateBatch) error {
	if len(r.Header.Values("Idempotency-Key")) > 0 {
		return fault.Invalid("header.Idempotency-Key", "create-batch does not take it: send a create that must not run twice on its own, with the header")
	}
	if err := s.limitItems(w, r, len(req.Items)); err != nil {
		return err
	}
	noStore(w)
	tenantID := principal(r).TenantID
	admit := func(started int) error { return s.liveCeiling(tenantID, started) }
	out, err := s.Sessions.CreateBatch(r.Context(), tenantID, req.Items, s.meta(r), admit)
	if err != nil {
		return err
	}
	for i := range out {
		if out[i].Err == nil {
			s.created(tenantID, &out[i].Created)
		}
	}
	return writeResults(w, r, http.StatusCreated, len(out), func(i int) (any, error) {
		return &out[i].Created, out[i].Err
	})
}

// sessionVerifyBatch is the body of POST /v1/sessions/verify-batch
// (SessionVerifyBatch in api/openapi.yaml).
type sessionVerifyBatch struct {
	Items []sessions.VerifyParams `json:"items"`
}

// verifySessions answers each item as verifySession would, with one HTTP
// request, one tenant rate check of len(items) requests and one store
// round trip.
func (s *server) verifySessions(w http.ResponseWriter, r *http.Request, req *sessionVerifyBatch) error {
	if err := s.limitItems(w, r, len(req.Items)); err != nil {
		return err
	}
	noStore(w)
	out, err := s.Sessions.VerifyBatch(r.Context(), principal(r).TenantID, req.Items, s.meta(r))
	if err != nil {
		return err
	}
	return writeResults(w, r, http.StatusOK, len(out), func(i int) (any, error) {
		return &out[i].Verified, out[i].Err
	})
}

// itemResult is one item's answer of a batch (SessionCreateResult,
// SessionVerifyResult in api/openapi.yaml): the status and body the
// single call answers for it, its body or a problem.
type itemResult struct {
	Status int `json:"status"`
	Body   any `json:"body"`
}

// writeResults answers a batch of n items with 200 and their results, in
// order: item(i)'s body with status ok, or its error's problem (problemOf,
// with the call's request id). An item the engine fails with a 5xx (the
// store, a bug) fails the whole call instead: an item's status is one the
// single call answers for that item itself.
func writeResults(w http.ResponseWriter, r *http.Request, ok, n int, item func(i int) (any, error)) error {
	rid := web.RequestID(r.Context())
	results := make([]itemResult, n)
	for i := range results {
		body, err := item(i)
		if err == nil {
			results[i] = itemResult{Status: ok, Body: body}
			continue
		}
		p := problemOf(err, rid)
		if p.Status >= 500 {
			return err
		}
		results[i] = itemResult{Status: p.Status, Body: &p}
	}
	return writeJSON(w, http.StatusOK, &struct {
		Results []itemResult `json:"results"`
	}{results})
}

func (s *server) regenerateSession(w http.ResponseWriter, r *http.Request, req *sessions.RegenerateParams) error {
	noStore(w)
	out, err := s.Sessions.Regenerate(r.Context(), principal(r).TenantID, *req, s.meta(r))
	if err != nil {
		return err
	}
	if out.Evicted == nil {
		out.Evicted = []string{}
	}
	return writeJSON(w, http.StatusOK, &out)
}

func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.Sessions.Get(r.Context(), principal(r).TenantID, r.PathValue("session_id"))
	if err != nil {
		return err
	}
	return writeSession(w, sess)
}

func (s *server) patchSession(w http.ResponseWriter, r *http.Request) error {
	patch := callOf(r).body
	var ifVersion *int64
	if m := r.Header.Get("If-Match"); m != "" {
		v, err := strconv.ParseInt(strings.Trim(m, `"`), 10, 64)
		if err != nil {
			return fault.Invalid("If-Match", `must be a quoted version, e.g. "3"`)
		}
		ifVersion = &v
	}
	sess, err := s.Sessions.PatchData(r.Context(), principal(r).TenantID, r.PathValue("session_id"), patch, ifVersion, s.meta(r))
	if err != nil {
		return err
	}
	return writeSession(w, sess)
}

func writeSession(w http.ResponseWriter, sess sessions.Session) error {
	w.Header().Set("ETag", `"`+strconv.FormatInt(sess.Version, 10)+`"`)
	return writeJSON(w, http.StatusOK, &sess)
}

func (s *server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.Sessions.Revoke(r.Context(), principal(r).TenantID, r.PathValue("session_id"), s.meta(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) revokeSessionByToken(w http.ResponseWriter, r *http.Request, req *sessionRevokeRequest) error {
	if err := s.Sessions.RevokeToken(r.Context(), principal(r).TenantID, req.Token, s.meta(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listSessions(w http.ResponseWriter, r *http.Request) error {
	page := pageOf(r)
	list, next, err := s.Sessions.List(r.Context(), principal(r).TenantID, r.URL.Query().Get("user_id"), page.Cursor, page.Limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []sessions.Session{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": list, "next_cursor": next})
}

func (s *server) listUserSessions(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("user_id")
	if !sessions.ValidUserID(userID) { // "" would list the whole tenant
		return fault.Invalid("user_id", "is not a user id")
	}
	page := pageOf(r)
	list, next, err := s.Sessions.List(r.Context(), principal(r).TenantID, userID, page.Cursor, page.Limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []sessions.Session{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": list, "next_cursor": next})
}

func (s *server) revokeUserSessions(w http.ResponseWriter, r *http.Request) error {
	q, tid, uid := r.URL.Query(), principal(r).TenantID, r.PathValue("user_id")
	var revoked sessions.Revoked
	var err error
	if q.Get("actor") == "any" {
		if q.Has("except") {
			return fault.Invalid("query.except", "cannot be combined with actor")
		}
		revoked, err = s.Sessions.RevokeActing(r.Context(), tid, uid, s.meta(r))
	} else {
		revoked, err = s.Sessions.RevokeUser(r.Context(), tid, uid, q.Get("except"), s.meta(r))
	}
	if err != nil {
		return err
	}
	ids := revoked.IDs
	if ids == nil {
		ids = []string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revoked": ids, "count": revoked.Count})
}
