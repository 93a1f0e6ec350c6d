package admin

import (
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/internal/tenants"
)

type apiKeysData struct {
	Keys    []tenants.APIKey
	Created *tenants.APIKey
	Secret  string // shown once, right after creation
	Name    string
	Scopes  map[string]bool
	Errors  map[string]string
}

func (s *server) apiKeysData(c *reqCtx) (apiKeysData, error) {
	keys, err := s.Tenants.APIKeys(c.TenantID)
	return apiKeysData{Keys: keys, Scopes: map[string]bool{"sessions": true}}, err
}

func (s *server) apiKeysPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.apiKeysData(c)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "apikeys", page{Title: "API keys", Nav: "apikeys", Data: d})
	return nil
}

// createAPIKey makes an API key and shows its secret on the page it answers
// with (never in a redirect, a cookie or a URL); the page is no-store.
func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	var scopes []tenants.Scope
	chosen := map[string]bool{}
	for _, sc := range r.PostForm["scopes"] {
		scopes = append(scopes, tenants.Scope(sc))
		chosen[sc] = true
	}
	k, secret, err := s.Tenants.CreateAPIKey(r.Context(), c.TenantID, name, scopes, s.actor(r, c.P))
	d, lerr := s.apiKeysData(c)
	if lerr != nil {
		return lerr
	}
	if err != nil {
		fe := fieldErrors(err)
		if fe == nil {
			return err
		}
		d.Name, d.Scopes, d.Errors = name, chosen, fe
		s.render(w, r, c, http.StatusBadRequest, "apikeys", page{Title: "API keys", Nav: "apikeys", Data: d})
		return nil
	}
	d.Created, d.Secret = &k, secret
	s.render(w, r, c, http.StatusCreated, "apikeys", page{Title: "API keys", Nav: "apikeys", Data: d,
		Flash: &flash{Kind: "ok", Text: "API key " + k.ID + " created. Copy its secret now: it is shown only once."}})
	return nil
}

// revokeAPIKey revokes an API key on every instance at once.
func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id := r.PathValue("id")
	if err := s.Tenants.RevokeAPIKey(r.Context(), c.TenantID, id, s.actor(r, c.P)); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/api-keys", "api_key_revoked", flashSafe(id))
}
