package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/events"
)

// listEvents lists the caller's tenant's events, newest first; events an
// operator caused show no operator IP or user agent.
func (s *server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	page := pageOf(r)
	list, next, err := s.Events.ListEvents(r.Context(), events.Filter{
		TenantID: principal(r).TenantID,
		Type:     events.Type(q.Get("type")),
		UserID:   q.Get("user_id"),
		Cursor:   page.Cursor,
		Limit:    page.Limit,
	})
	if err != nil {
		return err
	}
	isOperator, err := s.Tenants.OperatorActors(r.Context())
	if err != nil {
		return err
	}
	list = events.ForTenantList(list, isOperator)
	return writeJSON(w, http.StatusOK, map[string]any{"events": list, "next_cursor": next})
}
