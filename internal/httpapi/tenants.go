package httpapi

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/internal/tenants"
)

type tenantCreateRequest struct {
	Name   string              `json:"name"`
	Limits tenants.LimitsPatch `json:"limits"`
}

// tenantView is a tenant as the operator API shows it: with its effective
// ceilings (its own, else the deployment defaults).
type tenantView struct {
	tenants.Tenant
	Limits tenants.Limits `json:"limits"`
}

func (s *server) view(t tenants.Tenant) tenantView {
	return tenantView{Tenant: t, Limits: s.Tenants.Limits(t)}
}

type apiKeyCreated struct {
	tenants.APIKey
	Secret string `json:"secret"`
}

func (s *server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var req tenantCreateRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	t, ak, secret, err := s.Tenants.CreateTenantWithLimits(r.Context(), req.Name, req.Limits, s.actor(r))
	if err != nil {
		return err
	}
	noStore(w)
	return writeJSON(w, http.StatusCreated, map[string]any{
		"tenant":  s.view(t),
		"api_key": apiKeyCreated{APIKey: ak, Secret: secret},
	})
}

func (s *server) listTenants(w http.ResponseWriter, r *http.Request) error {
	list, next, err := s.Tenants.ListTenants(r.Context(), pageOf(r))
	if err != nil {
		return err
	}
	views := make([]tenantView, len(list))
	for i, t := range list {
		views[i] = s.view(t)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tenants": views, "next_cursor": next})
}

func (s *server) getTenant(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Tenants.GetTenant(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.view(t))
}

func (s *server) updateTenant(w http.ResponseWriter, r *http.Request) error {
	var patch tenants.TenantPatch
	if err := decodeJSON(r, &patch); err != nil {
		return err
	}
	t, err := s.Tenants.UpdateTenant(r.Context(), r.PathValue("tenant_id"), patch, s.actor(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.view(t))
}

func (s *server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	if err := s.Tenants.DeleteTenant(r.Context(), r.PathValue("tenant_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pageOf reads cursor and limit; the OpenAPI validation has checked them.
func pageOf(r *http.Request) tenants.Page {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	return tenants.Page{Cursor: q.Get("cursor"), Limit: limit}.Normalize()
}
