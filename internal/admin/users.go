package admin

import (
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
)

type userData struct {
	UserID   string
	Sessions []sessions.Session
	MoreURL  string // the sessions page that goes on after Sessions, if any
	Events   []events.Event
	Back     string
	// Acting is whether the user has impersonated sessions (or may have:
	// see actingScanPages), which offers "End impersonations".
	Acting bool
}

// actingScanPages bounds the further pages of a user's sessions the user
// page reads to find out whether any is impersonated, beyond the one it
// shows. A user with even more sessions gets the action regardless (it
// ends none when there are none).
const actingScanPages = 4

// hasActing reports whether any of list, or of the user's sessions after
// it (from cursor next), is impersonated, reading at most actingScanPages
// pages of 200; true when it could not tell.
func (s *server) hasActing(r *http.Request, tenantID, uid string, list []sessions.Session, next string) (bool, error) {
	for i := 0; ; i++ {
		for _, ss := range list {
			if ss.Actor != nil {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		if i == actingScanPages {
			return true, nil
		}
		var err error
		if list, next, err = s.Sessions.List(r.Context(), tenantID, uid, next, 200); err != nil {
			return false, err
		}
	}
}

// userPage shows one user: their first page of live sessions (devices) with
// the actions, a link to the next page of the paginated sessions listing when
// there are more, and their latest security events.
func (s *server) userPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	uid := r.PathValue("uid")
	if !sessions.ValidUserID(uid) { // "" would list the whole tenant
		return fault.New(fault.NotFound, "no such user")
	}
	list, next, err := s.Sessions.List(r.Context(), c.TenantID, uid, "", sessionsPageSize)
	if err != nil {
		return err
	}
	more := ""
	if next != "" {
		more = "/admin/t/" + c.TenantID + "/sessions?" + url.Values{"user_id": {uid}, "cursor": {next}}.Encode()
	}
	evs, _, err := s.EventStore.ListEvents(r.Context(), events.Filter{TenantID: c.TenantID, UserID: uid, Limit: 15})
	if err != nil {
		return err
	}
	acting, err := s.hasActing(r, c.TenantID, uid, list, next)
	if err != nil {
		return err
	}
	d := userData{UserID: uid, Sessions: list, MoreURL: more, Events: evs, Back: r.URL.RequestURI(), Acting: acting}
	s.render(w, r, c, http.StatusOK, "user", page{Title: "User " + uid, Nav: "sessions", Data: d})
	return nil
}
