package httpapi

import (
	"net/http"
)

type keyRotateRequest struct {
	GracePeriod *int `json:"grace_period"`
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.Tenants.Keys(principal(r).TenantID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (s *server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var req keyRotateRequest
	if r.ContentLength > 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	k, err := s.Tenants.RotateKey(r.Context(), principal(r).TenantID, req.GracePeriod, s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, k)
}

func (s *server) retireKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Tenants.RetireKey(r.Context(), principal(r).TenantID, r.PathValue("kid"), s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, k)
}
