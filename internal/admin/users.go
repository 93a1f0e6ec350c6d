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
	d := userData{UserID: uid, Sessions: list, MoreURL: more, Events: evs, Back: r.URL.RequestURI()}
	s.render(w, r, c, http.StatusOK, "user", page{Title: "User " + uid, Nav: "sessions", Data: d})
	return nil
}
