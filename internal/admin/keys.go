package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/tenants"
)

type keysData struct {
	Keys     []tenants.Key
	Grace    int
	GraceErr string
}

func (s *server) keysPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	keys, err := s.Tenants.Keys(c.TenantID)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "keys", page{Title: "Signing keys", Nav: "keys",
		Data: keysData{Keys: keys, Grace: c.Tenant.Policy.AbsoluteTimeout}})
	return nil
}

// rotateKey makes a new active key; the old one keeps verifying for the
// grace period (default: the absolute timeout).
func (s *server) rotateKey(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	var grace *int
	if v := strings.TrimSpace(r.PostForm.Get("grace_period")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errMissing("grace_period", "must be a whole number of seconds")
		}
		grace = &n
	}
	k, err := s.Tenants.RotateKey(r.Context(), c.TenantID, grace, s.actor(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/keys", "key_rotated", flashSafe(k.ID))
}

// retireKey retires a retiring key now.
func (s *server) retireKey(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	k, err := s.Tenants.RetireKey(r.Context(), c.TenantID, r.PathValue("kid"), s.actor(r, c.P))
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/keys", "key_retired", flashSafe(k.ID))
}
