package admin

import (
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/sessions"
)

type eventsData struct {
	Type, UserID string
	Types        []events.Type
	Events       []events.Event
	NextURL      string
	FirstURL     string
	Paged        bool
	Errors       map[string]string
}

// eventsPage lists the tenant's security events, newest first, filtered by
// type and user. Events an operator caused show no operator IP or user
// agent, except to operators.
func (s *server) eventsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	q := r.URL.Query()
	d := eventsData{Type: q.Get("type"), UserID: q.Get("user_id"), Types: events.Types(), Errors: map[string]string{}}
	d.Paged = q.Get("cursor") != ""
	if d.Type != "" && !events.Type(d.Type).Known() {
		d.Errors["type"] = "is not an event type"
	}
	if d.UserID != "" && !sessions.ValidUserID(d.UserID) {
		d.Errors["user_id"] = "must be 1 to 128 characters from A-Z a-z 0-9 . _ @ + | = -"
	}
	filter := url.Values{}
	if d.Type != "" {
		filter.Set("type", d.Type)
	}
	if d.UserID != "" {
		filter.Set("user_id", d.UserID)
	}
	base := "/admin/t/" + c.TenantID + "/events"
	d.FirstURL = base + "?" + filter.Encode()
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusBadRequest
	} else {
		list, next, err := s.EventStore.ListEvents(r.Context(), events.Filter{
			TenantID: c.TenantID, Type: events.Type(d.Type), UserID: d.UserID, Cursor: q.Get("cursor"), Limit: 50,
		})
		if err != nil {
			fe := fieldErrors(err)
			if fe == nil {
				return err
			}
			d.Errors["cursor"] = "That page link is no longer valid; start again from the first page."
			status = http.StatusBadRequest
		}
		if !c.P.IsOperator() && len(list) > 0 {
			isOperator, err := s.Tenants.OperatorActors(r.Context())
			if err != nil {
				return err
			}
			list = events.ForTenantList(list, isOperator)
		}
		d.Events = list
		if next != "" {
			filter.Set("cursor", next)
			d.NextURL = base + "?" + filter.Encode()
		}
	}
	s.render(w, r, c, status, "events", page{Title: "Security events", Nav: "events", Data: d})
	return nil
}
