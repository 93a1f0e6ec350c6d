package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/tenants"
)

func (s *server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Tenants.Policy(principal(r).TenantID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	var p tenants.Policy
	if err := decodeJSON(r, &p); err != nil {
		return err
	}
	p, err := s.Tenants.PutPolicy(r.Context(), principal(r).TenantID, p, s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}
