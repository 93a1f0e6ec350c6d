package admin

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/tenants"
)

type tenantsData struct {
	Tenants   []tenants.Tenant
	NextURL   string
	Paged     bool
	Name      string
	Errors    map[string]string
	Created   *tenants.Tenant
	APIKeyID  string
	APIKey    string // the first API key's secret, shown once
	Operators []tenants.Admin
}

func (s *server) tenantsData(r *http.Request) (tenantsData, error) {
	cursor := r.URL.Query().Get("cursor")
	list, next, err := s.Tenants.ListTenants(r.Context(), tenants.Page{Cursor: cursor, Limit: 50})
	d := tenantsData{Tenants: list, Paged: cursor != "", Errors: map[string]string{}}
	if next != "" {
		d.NextURL = "/admin/tenants?cursor=" + next
	}
	return d, err
}

// tenantsPage lists the tenants (operators only).
func (s *server) tenantsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.tenantsData(r)
	if err != nil {
		if fe := fieldErrors(err); fe != nil {
			return errNotFound
		}
		return err
	}
	s.render(w, r, c, http.StatusOK, "tenants", page{Title: "Tenants", Nav: "tenants", Data: d})
	return nil
}

// createTenant makes a tenant and shows its first API key once.
func (s *server) createTenant(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	t, ak, secret, err := s.Tenants.CreateTenant(r.Context(), name, s.actor(r, c.P))
	d, lerr := s.tenantsData(r)
	if lerr != nil {
		return lerr
	}
	if err != nil {
		fe := fieldErrors(err)
		if fe == nil {
			return err
		}
		d.Name, d.Errors = name, fe
		s.render(w, r, c, http.StatusBadRequest, "tenants", page{Title: "Tenants", Nav: "tenants", Data: d})
		return nil
	}
	d.Created, d.APIKeyID, d.APIKey = &t, ak.ID, secret
	s.render(w, r, c, http.StatusCreated, "tenants", page{Title: "Tenants", Nav: "tenants", Data: d,
		Flash: &flash{Kind: "ok", Text: "Tenant " + t.Name + " created. Copy its first API key now: it is shown only once."}})
	return nil
}

func (s *server) suspendTenant(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return s.setTenantStatus(w, r, c, tenants.Suspended, "tenant_suspended")
}

func (s *server) resumeTenant(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return s.setTenantStatus(w, r, c, tenants.Active, "tenant_resumed")
}

func (s *server) setTenantStatus(w http.ResponseWriter, r *http.Request, c *reqCtx, st tenants.Status, flashCode string) error {
	tid := r.PathValue("tid")
	if _, err := s.Tenants.UpdateTenant(r.Context(), tid, tenants.TenantPatch{Status: &st}, s.actor(r, c.P)); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/tenants", flashCode, flashSafe(tid))
}

type adminsData struct {
	Admins []tenants.Admin
	Email  string
	Errors map[string]string
}

// adminsPage lists a tenant's admins and makes new ones (operators only).
func (s *server) adminsPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	list, err := s.Tenants.ListAdmins(r.Context(), c.TenantID)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "admins", page{Title: "Admins", Nav: "admins", Data: adminsData{Admins: list}})
	return nil
}

// deleteAdmin removes a tenant admin; the service signs them out everywhere.
func (s *server) deleteAdmin(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	a, err := s.Tenants.DeleteAdmin(r.Context(), c.TenantID, r.PathValue("id"), s.actor(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/admins", "admin_removed", flashSafe(a.Email))
}

func (s *server) createAdmin(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	a, err := s.Tenants.CreateAdmin(r.Context(), c.TenantID, email, r.PostForm.Get("password"), s.actor(r, c.P))
	if err == nil {
		return s.redirect(w, r, "/admin/t/"+c.TenantID+"/admins", "admin_created", flashSafe(a.Email))
	}
	fe := fieldErrors(err)
	if fe == nil {
		if isConflict(err) {
			fe = map[string]string{"email": "is already used by another admin"}
		} else {
			return err
		}
	}
	list, lerr := s.Tenants.ListAdmins(r.Context(), c.TenantID)
	if lerr != nil {
		return lerr
	}
	s.render(w, r, c, http.StatusBadRequest, "admins", page{Title: "Admins", Nav: "admins",
		Data: adminsData{Admins: list, Email: email, Errors: fe}})
	return nil
}
