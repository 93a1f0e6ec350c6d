package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPasswordChangeEndsTheAdminsOtherSessions(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	laptop, phone := e.newClient(), e.newClient()
	laptop.login("ops@acme.example", password)
	phone.login("ops@acme.example", password)

	acct := laptop.get("/admin/account")
	if n := strings.Count(acct.Body, "data-session-id="); n != 2 {
		t.Fatalf("my sessions = %d, want 2", n)
	}
	wantContains(t, "account", acct, "this device")

	t.Run("field errors", func(t *testing.T) {
		p := laptop.post("/admin/account/password", url.Values{"current_password": {"not it at all"}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"}})
		wantStatus(t, "wrong current", p, http.StatusBadRequest)
		wantContains(t, "wrong current", p, "Current password is not your current password")
		p = laptop.post("/admin/account/password", url.Values{"current_password": {password}, "new_password": {"short"}, "confirm_password": {"short"}})
		wantStatus(t, "short", p, http.StatusBadRequest)
		wantContains(t, "short", p, "New password must be at least 12 characters")
	})

	p := laptop.post("/admin/account/password", url.Values{"current_password": {password}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"}})
	wantStatus(t, "change", p, http.StatusSeeOther)
	wantContains(t, "flash", laptop.get("/admin/account"), "Password changed. Your other sessions were ended (1)")
	wantStatus(t, "the phone's session", phone.get("/admin/account"), http.StatusSeeOther)

	c := e.newClient()
	wantStatus(t, "old password", c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}), http.StatusUnauthorized)
	c.login("ops@acme.example", "a brand new password")

	t.Run("log out my other devices", func(t *testing.T) {
		wantStatus(t, "logout others", laptop.post("/admin/account/logout-others", nil), http.StatusSeeOther)
		wantStatus(t, "the other browser", c.get("/admin/account"), http.StatusSeeOther)
		wantStatus(t, "this browser", laptop.get("/admin/account"), http.StatusOK)
	})
}

func TestPolicyEditorShowsFieldErrorsNextToFields(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	form := url.Values{"idle_timeout": {"7200"}, "absolute_timeout": {"3600"}, "max_sessions_per_user": {"x"}, "max_data_bytes": {"16384"},
		"on_limit": {"reject"}, "binding.user_agent": {"report"}, "binding.ip": {"off"}, "rolling": {"true"}}
	p := c.post("/admin/t/"+a.ID+"/policy", form)
	wantStatus(t, "invalid policy", p, http.StatusBadRequest)
	wantContains(t, "invalid policy", p, `id="idle_timeout-error">Idle timeout must not exceed absolute_timeout`,
		`id="max_sessions_per_user-error">Max sessions per user must be a whole number`, `value="7200"`)

	form.Set("idle_timeout", "600")
	form.Set("max_sessions_per_user", "3")
	p = c.post("/admin/t/"+a.ID+"/policy", form)
	wantStatus(t, "valid policy", p, http.StatusSeeOther)
	wantContains(t, "saved", c.get(p.Header.Get("Location")), "Policy saved", `value="600"`)
	var pol struct {
		IdleTimeout        int    `json:"idle_timeout"`
		MaxSessionsPerUser int    `json:"max_sessions_per_user"`
		OnLimit            string `json:"on_limit"`
	}
	e.api("GET", "/v1/policy", a.APIKey, nil, &pol)
	if pol.IdleTimeout != 600 || pol.MaxSessionsPerUser != 3 || pol.OnLimit != "reject" {
		t.Fatalf("policy through the API = %+v", pol)
	}
}

func TestKeysAndAPIKeys(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	before, _ := e.app.Tenants.Keys(a.ID)

	p := c.post("/admin/t/"+a.ID+"/keys/rotate", url.Values{"grace_period": {"60"}})
	wantStatus(t, "rotate", p, http.StatusSeeOther)
	after, _ := e.app.Tenants.Keys(a.ID)
	if len(after) != 2 || after[0].State != "active" || after[1].ID != before[0].ID || after[1].State != "retiring" {
		t.Fatalf("keys after rotation = %+v", after)
	}
	wantContains(t, "keys page", c.get("/admin/t/"+a.ID+"/keys"), "is now the active signing key", after[0].ID, "Retire now")
	wantStatus(t, "retire", c.post("/admin/t/"+a.ID+"/keys/"+before[0].ID+"/retire", nil), http.StatusSeeOther)
	wantStatus(t, "retire the active key", c.post("/admin/t/"+a.ID+"/keys/"+after[0].ID+"/retire", nil), http.StatusConflict)
	wantStatus(t, "bad grace", c.post("/admin/t/"+a.ID+"/keys/rotate", url.Values{"grace_period": {"-1"}}), http.StatusBadRequest)

	p = c.post("/admin/t/"+a.ID+"/api-keys", url.Values{"name": {"web"}, "scopes": {"sessions"}})
	wantStatus(t, "create API key", p, http.StatusCreated)
	secret := p.Body[strings.Index(p.Body, `id="new-secret">`)+len(`id="new-secret">`):]
	secret = secret[:strings.Index(secret, "<")]
	if !strings.HasPrefix(secret, "sk_") {
		t.Fatalf("secret = %q", secret)
	}
	if st := e.api("POST", "/v1/sessions", secret, map[string]any{"user_id": "x"}, nil); st != http.StatusCreated {
		t.Fatalf("the new key does not work: %d", st)
	}
	if strings.Contains(c.get("/admin/t/"+a.ID+"/api-keys").Body, secret) {
		t.Fatal("the secret is shown twice")
	}
	wantContains(t, "no scope", c.post("/admin/t/"+a.ID+"/api-keys", url.Values{"name": {"x"}}), "Scopes must name at least one")
	keys, _ := e.app.Tenants.APIKeys(a.ID)
	var id string
	for _, k := range keys {
		if k.Name == "web" {
			id = k.ID
		}
	}
	wantStatus(t, "revoke API key", c.post("/admin/t/"+a.ID+"/api-keys/"+id+"/revoke", nil), http.StatusSeeOther)
	if st := e.api("POST", "/v1/sessions", secret, map[string]any{"user_id": "x"}, nil); st != http.StatusUnauthorized {
		t.Fatalf("the revoked key still works: %d", st)
	}
}
