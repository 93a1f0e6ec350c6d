package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond/internal/tenants"
)

// TestTenantAdminsReachOnlyTheirOwnTenant opens every page and tries every
// action of tenant B as an admin of tenant A: each is 404 (B is not even
// shown to exist) and B is left as it was; the operators' pages are 403.
func TestTenantAdminsReachOnlyTheirOwnTenant(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	b := e.createTenant("Globex")
	e.createAdmin(a.ID, "ops@acme.example", password)
	bAdmin := e.createAdmin(b.ID, "ops@globex.example", password)
	sb := e.createSession(b.APIKey, "bob", devices[0].ua, devices[0].ip)
	ctx := context.Background()
	keysBefore, _ := e.app.Tenants.Keys(b.ID)
	apiKeysBefore, _ := e.app.Tenants.APIKeys(b.ID)
	policyBefore, _ := e.app.Tenants.Policy(b.ID)

	c := e.newClient()
	c.login("ops@acme.example", password)

	pages := []string{"/", "/sessions", "/sessions?user_id=bob", "/users/bob", "/policy", "/keys", "/api-keys", "/events", "/admins"}
	for _, p := range pages {
		t.Run("GET "+p+" of another tenant is 404", func(t *testing.T) {
			wantStatus(t, p, c.get("/admin/t/"+b.ID+p), http.StatusNotFound)
		})
		t.Run("GET "+p+" of the own tenant works", func(t *testing.T) {
			want := http.StatusOK
			if p == "/admins" {
				want = http.StatusForbidden
			}
			wantStatus(t, p, c.get("/admin/t/"+a.ID+p), want)
		})
	}
	kid := keysBefore[0].ID
	actions := []struct {
		path string
		form url.Values
	}{
		{"/sessions/" + sb.Session.ID + "/revoke", nil},
		{"/users/bob/logout-others", url.Values{"keep": {sb.Session.ID}}},
		{"/users/bob/logout-all", nil},
		{"/policy", url.Values{"idle_timeout": {"60"}, "absolute_timeout": {"120"}, "max_sessions_per_user": {"1"}, "max_data_bytes": {"100"}, "on_limit": {"reject"}, "binding.user_agent": {"off"}, "binding.ip": {"off"}}},
		{"/keys/rotate", nil},
		{"/keys/" + kid + "/retire", nil},
		{"/api-keys", url.Values{"name": {"stolen"}, "scopes": {"sessions"}}},
		{"/api-keys/" + apiKeysBefore[0].ID + "/revoke", nil},
		{"/admins", url.Values{"email": {"evil@acme.example"}, "password": {password}}},
		{"/admins/" + bAdmin.ID + "/delete", nil},
	}
	for _, act := range actions {
		t.Run("POST "+act.path+" on another tenant is 404", func(t *testing.T) {
			wantStatus(t, act.path, c.post("/admin/t/"+b.ID+act.path, act.form), http.StatusNotFound)
		})
	}
	t.Run("another tenant's session id through the own tenant's URL is 404", func(t *testing.T) {
		wantStatus(t, "revoke", c.post("/admin/t/"+a.ID+"/sessions/"+sb.Session.ID+"/revoke", nil), http.StatusNotFound)
		wantStatus(t, "logout-others", c.post("/admin/t/"+a.ID+"/users/bob/logout-others", url.Values{"keep": {sb.Session.ID}}), http.StatusNotFound)
	})
	t.Run("operator pages are 403", func(t *testing.T) {
		wantStatus(t, "tenants", c.get("/admin/tenants"), http.StatusForbidden)
		wantStatus(t, "suspend", c.post("/admin/tenants/"+b.ID+"/suspend", nil), http.StatusForbidden)
		wantStatus(t, "removing an admin of the own tenant", c.post("/admin/t/"+a.ID+"/admins/"+bAdmin.ID+"/delete", nil), http.StatusForbidden)
		wantStatus(t, "system tenant", c.get("/admin/t/"+tenants.SystemTenantID+"/sessions"), http.StatusNotFound)
	})
	t.Run("the other tenant is untouched", func(t *testing.T) {
		if !e.verifies(b.APIKey, sb.Token) {
			t.Error("B's session was ended")
		}
		keys, _ := e.app.Tenants.Keys(b.ID)
		apiKeys, _ := e.app.Tenants.APIKeys(b.ID)
		pol, _ := e.app.Tenants.Policy(b.ID)
		if len(keys) != len(keysBefore) || keys[0].State != keysBefore[0].State || len(apiKeys) != len(apiKeysBefore) || pol != policyBefore {
			t.Errorf("B changed: keys %v, API keys %v, policy %+v", keys, apiKeys, pol)
		}
		admins, _ := e.app.Tenants.ListAdmins(ctx, b.ID)
		if len(admins) != 1 {
			t.Errorf("B's admins = %v", admins)
		}
		t2, _ := e.app.Tenants.GetTenant(ctx, b.ID)
		if t2.Status != tenants.Active {
			t.Error("B was suspended")
		}
	})
	t.Run("the other tenant's admin sees only their own", func(t *testing.T) {
		cb := e.newClient()
		cb.login("ops@globex.example", password)
		wantContains(t, "B sessions", cb.get("/admin/t/"+b.ID+"/sessions"), sb.Session.ID)
		wantStatus(t, "A dashboard", cb.get("/admin/t/"+a.ID+"/"), http.StatusNotFound)
	})
}
