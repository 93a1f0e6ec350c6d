package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/tenants"
)

type adminCreateRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// createAdmin makes an admin UI account for a tenant (operator only). The
// answer never carries the password or its hash.
func (s *server) createAdmin(w http.ResponseWriter, r *http.Request) error {
	var req adminCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	a, err := s.Tenants.CreateAdmin(r.Context(), r.PathValue("tenant_id"), req.Email, req.Password, s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}

// listAdmins lists a tenant's admin UI accounts (operator only).
func (s *server) listAdmins(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("tenant_id")
	if _, err := s.Tenants.GetTenant(r.Context(), id); err != nil {
		return err
	}
	list, err := s.Tenants.ListAdmins(r.Context(), id)
	if err != nil {
		return err
	}
	if list == nil {
		list = []tenants.Admin{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"admins": list})
}

// deleteAdmin removes a tenant admin and ends their admin UI sessions.
func (s *server) deleteAdmin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.Tenants.DeleteAdmin(r.Context(), r.PathValue("tenant_id"), r.PathValue("admin_id"), s.actor(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
