package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/tenants"
)

type apiKeyCreateRequest struct {
	Name   string          `json:"name"`
	Scopes []tenants.Scope `json:"scopes"`
}

func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.Tenants.APIKeys(principal(r).TenantID)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []tenants.APIKey{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"api_keys": keys})
}

func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req apiKeyCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	k, secret, err := s.Tenants.CreateAPIKey(r.Context(), principal(r).TenantID, req.Name, req.Scopes, s.actor(r))
	if err != nil {
		return err
	}
	noStore(w)
	return writeJSON(w, http.StatusCreated, apiKeyCreated{APIKey: k, Secret: secret})
}

func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.Tenants.RevokeAPIKey(r.Context(), principal(r).TenantID, r.PathValue("api_key_id"), s.actor(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
