package admin

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/sessions"
)

type userData struct {
	UserID   string
	Sessions []sessions.Session
	Events   []events.Event
	Back     string
}

// userPage shows one user: their live sessions (devices) with the actions,
// and their latest security events.
func (s *server) userPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	uid := r.PathValue("uid")
	list, err := s.Sessions.ListUser(r.Context(), c.TenantID, uid)
	if err != nil {
		return err
	}
	evs, _, err := s.EventStore.ListEvents(r.Context(), events.Filter{TenantID: c.TenantID, UserID: uid, Limit: 15})
	if err != nil {
		return err
	}
	d := userData{UserID: uid, Sessions: list, Events: evs, Back: r.URL.RequestURI()}
	s.render(w, r, c, http.StatusOK, "user", page{Title: "User " + uid, Nav: "sessions", Data: d})
	return nil
}
