package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
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
	a, err := s.Tenants.CreateAdmin(r.Context(), mux.Vars(r)["tenant_id"], req.Email, req.Password, s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, a)
}
