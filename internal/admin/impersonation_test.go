package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/events"
)

// createSessionWith creates a session of userID through the REST API with
// the extra fields of body (amr, actor, remember).
func (e *env) createSessionWith(apiKey, userID string, extra map[string]any) apiSession {
	e.t.Helper()
	var s apiSession
	body := map[string]any{"user_id": userID, "device": map[string]any{"user_agent": devices[0].ua, "ip": devices[0].ip}}
	for k, v := range extra {
		body[k] = v
	}
	if st := e.api("POST", "/v1/sessions", apiKey, body, &s); st != http.StatusCreated {
		e.t.Fatalf("create session %v: %d", extra, st)
	}
	return s
}

// A user's page shows each session's assurance and profile, marks the
// impersonated ones with their actor, and "End impersonations" ends exactly
// those, leaving the user's own sessions.
func TestUserPageShowsAndEndsImpersonations(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	if st := e.api("PUT", "/v1/policy", a.APIKey, map[string]any{"idle_timeout": 1800, "absolute_timeout": 28800, "max_sessions_per_user": 100,
		"on_limit": "evict_oldest", "rolling": true, "binding": map[string]any{"user_agent": "off", "ip": "off"}, "max_data_bytes": 16384,
		"remember_me": map[string]any{"idle_timeout": 86400, "absolute_timeout": 2592000}}, nil); st != http.StatusOK {
		t.Fatalf("policy: %d", st)
	}
	own := e.createSessionWith(a.APIKey, "alice", map[string]any{"amr": []string{"pwd", "otp"}})
	remembered := e.createSessionWith(a.APIKey, "alice", map[string]any{"amr": []string{"pwd"}, "remember": true})
	acting := e.createSessionWith(a.APIKey, "alice", map[string]any{"actor": map[string]any{"type": "support", "id": "agent-7"}})
	bob := e.createSessionWith(a.APIKey, "bob", nil)
	c := e.newClient()
	c.login("ops@acme.example", password)

	userPath := "/admin/t/" + a.ID + "/users/alice"
	p := c.get(userPath)
	wantStatus(t, "alice's page", p, http.StatusOK)
	wantContains(t, "alice's page", p,
		`data-session-id="`+acting.Session.ID+`" data-impersonated="true"`, "Impersonated by support agent-7",
		"AAL 2 · pwd, otp", "AAL 1 · pwd", "Remembered",
		`data-action="end-impersonations"`, `action="/admin/t/`+a.ID+`/users/alice/end-impersonations"`)
	if n := strings.Count(p.Body, "Impersonated by"); n != 1 {
		t.Errorf("%d sessions are marked impersonated, want 1", n)
	}
	if n := strings.Count(p.Body, `data-impersonated="true"`); n != 1 {
		t.Errorf("%d rows are impersonated, want 1", n)
	}
	// The tenant's list marks it too.
	wantContains(t, "sessions page", c.get("/admin/t/"+a.ID+"/sessions"), "Impersonated by support agent-7", "AAL 2 · pwd, otp", "Remembered")
	// A user without impersonations is not offered the action.
	bp := c.get("/admin/t/" + a.ID + "/users/bob")
	wantStatus(t, "bob's page", bp, http.StatusOK)
	if strings.Contains(bp.Body, "end-impersonations") || strings.Contains(bp.Body, "Impersonated by") {
		t.Error("bob's page offers to end impersonations he does not have")
	}
	wantContains(t, "bob's page", bp, "AAL 1</span>")

	t.Run("without the CSRF token it is refused", func(t *testing.T) {
		r := c.postRaw(userPath+"/end-impersonations", url.Values{}, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"})
		wantStatus(t, "no token", r, http.StatusForbidden)
		if !e.verifies(a.APIKey, acting.Token) {
			t.Fatal("the impersonated session was ended anyway")
		}
	})
	t.Run("as a GET it does nothing", func(t *testing.T) {
		r := c.get(userPath + "/end-impersonations")
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("GET on the action = %d", r.Status)
		}
	})

	r := c.post(userPath+"/end-impersonations", url.Values{"back": {userPath}})
	wantStatus(t, "end impersonations", r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != userPath {
		t.Fatalf("redirected to %q, want %q", loc, userPath)
	}
	after := c.get(userPath)
	wantContains(t, "after", after, "Ended 1 impersonated session(s); the user&#39;s own sessions were kept.",
		`data-session-id="`+own.Session.ID+`"`, `data-session-id="`+remembered.Session.ID+`"`)
	if strings.Contains(after.Body, `data-session-id="`+acting.Session.ID+`"`) || strings.Contains(after.Body, `data-action="end-impersonations"`) {
		t.Error("the impersonated session, or the action, is still on the page")
	}
	if e.verifies(a.APIKey, acting.Token) {
		t.Error("the impersonated session still verifies")
	}
	for name, s := range map[string]apiSession{"alice's own": own, "alice's remembered": remembered, "bob's": bob} {
		if !e.verifies(a.APIKey, s.Token) {
			t.Errorf("%s session was ended", name)
		}
	}

	// The revocation's event names the admin, and the events pages show
	// who held the session.
	e.flushEvents()
	list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.SessionRevoked, UserID: "alice", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].SessionID != acting.Session.ID || list[0].Detail["reason"] != "impersonation_ended" || list[0].Actor != "admin:ops@acme.example" {
		t.Fatalf("session.revoked events = %+v", list)
	}
	ev := c.get("/admin/t/" + a.ID + "/events?type=session.created&user_id=alice")
	wantStatus(t, "events page", ev, http.StatusOK)
	wantContains(t, "events page", ev, `data-actor="support:agent-7"`, "impersonated by support:agent-7")
	wantContains(t, "events page", c.get("/admin/t/"+a.ID+"/events?type=session.revoked"), "impersonation_ended", "admin:ops@acme.example")
	wantContains(t, "user page events", c.get(userPath), "impersonated by support:agent-7", "impersonation_ended")
}

// The policy form edits min_aal, the remember-me lifetime (empty: none)
// and the impersonation lifetime, with field errors next to the fields.
func TestPolicyFormRoundTripsAssuranceAndLifetimes(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	path := "/admin/t/" + a.ID + "/policy"

	p := c.get(path)
	wantStatus(t, "policy page", p, http.StatusOK)
	wantContains(t, "defaults", p, `<option value="1" selected>`, `name="remember_me.idle_timeout" value=""`, `name="remember_me.absolute_timeout" value=""`,
		`name="impersonation.idle_timeout" value="900"`, `name="impersonation.absolute_timeout" value="3600"`)

	form := url.Values{"idle_timeout": {"1800"}, "absolute_timeout": {"28800"}, "max_sessions_per_user": {"100"}, "max_data_bytes": {"16384"},
		"on_limit": {"evict_oldest"}, "binding.user_agent": {"off"}, "binding.ip": {"off"}, "rolling": {"true"},
		"min_aal": {"3"}, "remember_me.idle_timeout": {"86400"}, "remember_me.absolute_timeout": {""},
		"impersonation.idle_timeout": {"7200"}, "impersonation.absolute_timeout": {"3600"}}
	p = c.post(path, form)
	wantStatus(t, "invalid policy", p, http.StatusBadRequest)
	wantContains(t, "invalid policy", p, `id="min_aal-error">Minimum assurance level must be 1 or 2`,
		`id="remember_absolute_timeout-error">Remember-me absolute timeout is needed with the other timeout (leave both empty for none)`,
		`id="impersonation_idle_timeout-error">Impersonation idle timeout must not exceed absolute_timeout`,
		`name="remember_me.idle_timeout" value="86400"`, `name="impersonation.idle_timeout" value="7200"`)

	form.Set("min_aal", "2")
	form.Set("remember_me.absolute_timeout", "2592000")
	form.Set("impersonation.idle_timeout", "600")
	form.Set("impersonation.absolute_timeout", "1800")
	// The operator's ceilings bound the lifetimes too.
	form.Set("remember_me.absolute_timeout", "2592001")
	p = c.post(path, form)
	wantStatus(t, "above a ceiling", p, http.StatusBadRequest)
	wantContains(t, "above a ceiling", p, `id="remember_absolute_timeout-error">Remember-me absolute timeout must be at most 2592000 (the operator&#39;s ceiling)`)
	form.Set("remember_me.absolute_timeout", "2592000")
	p = c.post(path, form)
	wantStatus(t, "valid policy", p, http.StatusSeeOther)
	saved := c.get(p.Header.Get("Location"))
	wantContains(t, "saved", saved, "Policy saved", `<option value="2" selected>`, `name="remember_me.idle_timeout" value="86400"`,
		`name="remember_me.absolute_timeout" value="2592000"`, `name="impersonation.idle_timeout" value="600"`, `name="impersonation.absolute_timeout" value="1800"`)

	type lifetime struct {
		IdleTimeout     int `json:"idle_timeout"`
		AbsoluteTimeout int `json:"absolute_timeout"`
	}
	var pol struct {
		MinAAL        int       `json:"min_aal"`
		RememberMe    *lifetime `json:"remember_me"`
		Impersonation *lifetime `json:"impersonation"`
	}
	e.api("GET", "/v1/policy", a.APIKey, nil, &pol)
	if pol.MinAAL != 2 || pol.RememberMe == nil || *pol.RememberMe != (lifetime{86400, 2592000}) || pol.Impersonation == nil || *pol.Impersonation != (lifetime{600, 1800}) {
		t.Fatalf("policy through the API = %+v (remember_me %+v, impersonation %+v)", pol, pol.RememberMe, pol.Impersonation)
	}

	// Empty lifetimes: no remember-me, the default impersonation; min_aal 1.
	form.Set("min_aal", "1")
	for _, k := range []string{"remember_me.idle_timeout", "remember_me.absolute_timeout", "impersonation.idle_timeout", "impersonation.absolute_timeout"} {
		form.Set(k, "")
	}
	wantStatus(t, "cleared", c.post(path, form), http.StatusSeeOther)
	pol.RememberMe, pol.Impersonation = nil, nil
	e.api("GET", "/v1/policy", a.APIKey, nil, &pol)
	if pol.MinAAL != 1 || pol.RememberMe != nil || pol.Impersonation == nil || *pol.Impersonation != (lifetime{900, 3600}) {
		t.Fatalf("cleared policy through the API = %+v (remember_me %+v, impersonation %+v)", pol, pol.RememberMe, pol.Impersonation)
	}
	wantContains(t, "cleared", c.get(path), `<option value="1" selected>`, `name="remember_me.idle_timeout" value=""`, `name="impersonation.idle_timeout" value="900"`)
}
