package admin

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/sessiond/sessiond/internal/sessions"
)

type sessionsData struct {
	UserID      string
	UserErr     string
	Sessions    []sessions.Session
	Next        string
	NextURL     string
	FirstURL    string
	Paged       bool
	Back        string
	Unavailable string
}

// sessionsPageSize is the number of sessions per page.
const sessionsPageSize = 25

// sessionsPage lists the tenant's live sessions, or one user's, a page at a
// time (the engine's cursor).
func (s *server) sessionsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	q := r.URL.Query()
	d := sessionsData{UserID: q.Get("user_id"), Back: r.URL.RequestURI()}
	cursor := q.Get("cursor")
	d.Paged = cursor != ""
	base := "/admin/t/" + c.TenantID + "/sessions"
	d.FirstURL = base
	if d.UserID != "" {
		d.FirstURL += "?user_id=" + url.QueryEscape(d.UserID)
	}
	status := http.StatusOK
	if d.UserID != "" && !sessions.ValidUserID(d.UserID) {
		d.UserErr = "A user id is 1 to 128 characters from A-Z a-z 0-9 . _ @ + | = -"
		status = http.StatusBadRequest
	} else {
		list, next, err := s.Sessions.List(r.Context(), c.TenantID, d.UserID, cursor, sessionsPageSize)
		if err != nil {
			if fe := fieldErrors(err); fe != nil {
				d.UserErr = "That page link is no longer valid; start again from the first page."
				status = http.StatusBadRequest
			} else {
				return err
			}
		}
		d.Sessions, d.Next = list, next
		if next != "" {
			v := url.Values{"cursor": {next}}
			if d.UserID != "" {
				v.Set("user_id", d.UserID)
			}
			d.NextURL = base + "?" + v.Encode()
		}
	}
	s.render(w, r, c, status, "sessions", page{Title: "Sessions", Nav: "sessions", Data: d})
	return nil
}

// revokeSession ends one session of the tenant.
func (s *server) revokeSession(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	sid := r.PathValue("sid")
	if err := s.Sessions.Revoke(r.Context(), c.TenantID, sid, s.meta(r, c.P)); err != nil {
		return err
	}
	return s.redirect(w, r, s.back(r, c), "revoked", flashSafe(sid))
}

// logoutOthers ends every session of a user except the chosen one ("log out
// other devices"), in one atomic engine call.
func (s *server) logoutOthers(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	keep := r.PostForm.Get("keep")
	if keep == "" {
		return errMissing("keep", "choose the session to keep")
	}
	ended, err := s.Sessions.RevokeUser(r.Context(), c.TenantID, r.PathValue("uid"), keep, s.meta(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, s.back(r, c), "others_revoked", strconv.Itoa(ended.Count))
}

// logoutEverywhere ends every session of a user.
func (s *server) logoutEverywhere(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	ended, err := s.Sessions.RevokeUser(r.Context(), c.TenantID, r.PathValue("uid"), "", s.meta(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, s.back(r, c), "all_revoked", strconv.Itoa(ended.Count))
}

// endImpersonations ends every impersonated session of a user (support
// staff, an admin or a service acting as them), leaving the user's own
// sessions: the engine's RevokeActing, as DELETE
// /v1/users/{id}/sessions?actor=any.
func (s *server) endImpersonations(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	ended, err := s.Sessions.RevokeActing(r.Context(), c.TenantID, r.PathValue("uid"), s.meta(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, s.back(r, c), "impersonations_ended", strconv.Itoa(ended.Count))
}

// back is where an action returns: the form's "back" field if it is a page
// of the same tenant, else the tenant's sessions page.
func (s *server) back(r *http.Request, c *reqCtx) string {
	def := "/admin/t/" + c.TenantID + "/sessions"
	b := localPath(r.PostForm.Get("back"), def)
	prefix := "/admin/t/" + c.TenantID + "/"
	if len(b) < len(prefix) || b[:len(prefix)] != prefix {
		return def
	}
	return b
}
