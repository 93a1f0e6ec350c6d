package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
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

// Wrong current passwords on the password form count under the sign-in
// limits: from a browser that is not a known device, against the account
// and source (so they slow that source's sign-ins too); from a known
// device, against the device. Each is an admin.password_change_failed
// event, and so is the first refusal of a window.
func TestWrongCurrentPasswordsAreLimitedAndRecorded(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 100, PerPair: 3, MaxDelay: 20 * time.Second}})
	a := e.createTenant("Acme")
	ad := e.createAdmin(a.ID, "ops@acme.example", password)
	const next = "a brand new password"
	change := func(c *client, current string) page {
		return c.post("/admin/account/password", url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {next}})
	}
	failures := func() map[string]int {
		e.flushEvents()
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.AdminPasswordChangeFailed, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, ev := range list {
			if ev.Detail["admin_id"] != ad.ID || ev.Actor != "admin:ops@acme.example" {
				t.Errorf("event %+v", ev)
			}
			out[ev.Detail["reason"]+" "+ev.Detail["limit"]]++
		}
		return out
	}

	t.Run("not a known device: the account and source", func(t *testing.T) {
		c := e.newClientFrom("127.0.0.2")
		c.login("ops@acme.example", password)
		c.setCookie("sessiond_device", "")
		for i := 0; i < 3; i++ {
			p := change(c, "not it "+strconv.Itoa(i))
			wantStatus(t, "a wrong current password", p, http.StatusBadRequest)
			wantContains(t, "a wrong current password", p, "Current password is not your current password")
		}
		p := change(c, "not it either")
		wantStatus(t, "past the limit", p, http.StatusTooManyRequests)
		if got := p.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		wantContains(t, "past the limit", p, "Current password was wrong too many times. Try again in 1s.")
		wantStatus(t, "the right one within the delay", change(c, password), http.StatusTooManyRequests)
		signIn := e.newClientFrom("127.0.0.2").post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
		wantStatus(t, "a sign-in from the same source within the delay", signIn, http.StatusTooManyRequests)
		e.newClientFrom("127.0.0.3").login("ops@acme.example", password)
		if got := failures(); got["bad_password "] != 3 || got["rate_limited account_ip"] != 1 || len(got) != 2 {
			t.Fatalf("password_change_failed events by reason and limit: %v", got)
		}
		e.clock.Advance(time.Second)
		wantStatus(t, "the right one once the delay has passed", change(c, password), http.StatusSeeOther)
	})
	t.Run("a known device: its own budget", func(t *testing.T) {
		c := e.newClientFrom("127.0.0.4")
		c.login("ops@acme.example", next)
		for i := 0; i < 3; i++ {
			wantStatus(t, "a wrong current password", change(c, "not it "+strconv.Itoa(i)), http.StatusBadRequest)
		}
		wantStatus(t, "past the device's limit", change(c, "not it either"), http.StatusTooManyRequests)
		if got := failures(); got["bad_password "] != 6 || got["rate_limited device"] != 1 {
			t.Fatalf("password_change_failed events by reason and limit: %v", got)
		}
		e.newClientFrom("127.0.0.4").login("ops@acme.example", next)
	})
}

// A new admin password must not be easy to guess, wherever it is set; the
// message names the rule broken.
func TestWeakPasswordsAreRefusedWithTheRuleTheyBreak(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	for _, w := range []struct{ password, message string }{
		{"aaaaaaaaaaaa", "New password must not be one character or a short pattern repeated"},
		{"abcabcabcabc", "New password must not be one character or a short pattern repeated"},
		{"123456789012", "New password must not be a sequence like abcd, 1234 or qwerty"},
		{"password1234", "New password must not be a common password"},
		{"OPS@acme.example", "New password must not be your email address"},
	} {
		p := c.post("/admin/account/password", url.Values{"current_password": {password}, "new_password": {w.password}, "confirm_password": {w.password}})
		wantStatus(t, w.password, p, http.StatusBadRequest)
		wantContains(t, w.password, p, w.message)
	}
	t.Run("and when an operator creates an admin", func(t *testing.T) {
		_, err := e.app.Tenants.CreateAdmin(context.Background(), a.ID, "dev@acme.example", "dev@acme.example", tenants.Actor{Name: "operator"})
		if fe := fault.CodeOf(err); fe != fault.InvalidRequest || !strings.Contains(err.Error(), "must not be your email address") {
			t.Fatalf("CreateAdmin with the email as password: %v", err)
		}
	})
	const strong = "vKq8-Lm2p-Zr7w horse"
	p := c.post("/admin/account/password", url.Values{"current_password": {password}, "new_password": {strong}, "confirm_password": {strong}})
	wantStatus(t, "a strong password", p, http.StatusSeeOther)
	e.newClient().login("ops@acme.example", strong)
}
