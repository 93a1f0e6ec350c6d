package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type factorOut struct {
	Method string    `json:"method"`
	At     time.Time `json:"at"`
}

type assured struct {
	Session struct {
		ID  string      `json:"id"`
		AMR []factorOut `json:"amr"`
		AAL int         `json:"aal"`
	} `json:"session"`
	Token string `json:"token"`
}

type stepUpProblem struct {
	Code   string `json:"code"`
	StepUp struct {
		AAL     int      `json:"aal"`
		HaveAAL int      `json:"have_aal"`
		Factors []string `json:"factors"`
	} `json:"step_up"`
}

func methods(fs []factorOut) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Method)
	}
	return strings.Join(out, ",")
}

// The step-up flow of the assurance issue, through the API: a password
// login is AAL 1; a verify asking for AAL 2 is step_up_required naming what
// is missing, without sliding the session; regenerating with an OTP gives
// both factors and AAL 2; an OTP older than max_factor_age is stale.
func TestStepUpOverHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Bank")
	login := e.createSession(a.APIKey, map[string]any{"user_id": "alice", "amr": []string{"pwd", "pwd"}})

	r := e.verify(a.APIKey, login.Token, nil)
	var v assured
	r.decode(t, &v)
	if r.Status != http.StatusOK || v.Session.AAL != 1 || methods(v.Session.AMR) != "pwd" || !v.Session.AMR[0].At.Equal(e.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("a password login = %d %s", r.Status, r.Body)
	}
	idle := login.Session.IdleExpiresAt

	e.clock.Advance(time.Minute)
	r = e.verify(a.APIKey, login.Token, map[string]any{"min_aal": 2})
	var p stepUpProblem
	r.decode(t, &p)
	if r.Status != http.StatusForbidden || p.Code != "step_up_required" || p.StepUp.AAL != 2 || p.StepUp.HaveAAL != 1 || len(p.StepUp.Factors) != 0 {
		t.Fatalf("min_aal 2 on a password session = %d %s", r.Status, r.Body)
	}
	var got sessionOut
	e.do(req{method: "GET", path: "/v1/sessions/" + login.Session.ID, token: a.APIKey}).decode(t, &got)
	if !got.IdleExpiresAt.Equal(idle) {
		t.Fatalf("a refused step-up slid the idle deadline from %v to %v", idle, got.IdleExpiresAt)
	}

	r = e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey,
		body: map[string]any{"token": login.Token, "reauthenticated": true, "amr": []string{"otp"}}})
	var up assured
	r.decode(t, &up)
	if r.Status != http.StatusOK || up.Session.AAL != 2 || methods(up.Session.AMR) != "pwd,otp" {
		t.Fatalf("step-up with otp = %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, up.Token, map[string]any{"min_aal": 2, "max_factor_age": map[string]int{"otp": 300}}); r.Status != http.StatusOK {
		t.Fatalf("after the step-up = %d %s", r.Status, r.Body)
	}

	e.clock.Advance(6 * time.Minute)
	r = e.verify(a.APIKey, up.Token, map[string]any{"max_factor_age": map[string]int{"otp": 300, "hwk": 3600}})
	p = stepUpProblem{}
	r.decode(t, &p)
	if r.Status != http.StatusForbidden || p.Code != "step_up_required" || strings.Join(p.StepUp.Factors, ",") != "hwk,otp" || p.StepUp.HaveAAL != 2 {
		t.Fatalf("a stale otp and a missing hwk = %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, up.Token, map[string]any{"max_factor_age": map[string]int{"otp": 600}}); r.Status != http.StatusOK {
		t.Fatalf("an otp within its age = %d %s", r.Status, r.Body)
	}

	// A new login (another user) keeps only its own factors.
	r = e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey,
		body: map[string]any{"token": up.Token, "user_id": "bob", "amr": []string{"fpt"}}})
	var bob assured
	r.decode(t, &bob)
	if r.Status != http.StatusOK || bob.Session.AAL != 1 || methods(bob.Session.AMR) != "fpt" {
		t.Fatalf("login as bob = %d %s", r.Status, r.Body)
	}

	e.flushEvents()
	body := string(e.do(req{method: "GET", path: "/v1/events?user_id=alice", token: a.APIKey}).Body)
	for _, typ := range []string{"verify.step_up_required", "session.stepped_up"} {
		if !strings.Contains(body, `"`+typ+`"`) {
			t.Errorf("no %s event for alice: %s", typ, body)
		}
	}
}

// The policy's min_aal applies to every verify; a request may ask for more,
// never less.
func TestPolicyMinAALAppliesToEveryVerify(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Bank")
	pwd := e.createSession(a.APIKey, map[string]any{"user_id": "alice", "amr": []string{"pwd"}})
	both := e.createSession(a.APIKey, map[string]any{"user_id": "alice", "amr": []string{"pwd", "hwk"}})
	e.putPolicy(a.APIKey, func(p map[string]any) { p["min_aal"] = 2 })
	if r := e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}); !strings.Contains(string(r.Body), `"min_aal":2`) {
		t.Fatalf("policy = %s", r.Body)
	}
	for _, extra := range []map[string]any{nil, {"min_aal": 1}} {
		if r := e.verify(a.APIKey, pwd.Token, extra); r.Status != http.StatusForbidden || r.code(t) != "step_up_required" {
			t.Fatalf("an AAL 1 session under policy min_aal 2 (%v) = %d %s", extra, r.Status, r.Body)
		}
	}
	if r := e.verify(a.APIKey, both.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("an AAL 2 session under policy min_aal 2 = %d %s", r.Status, r.Body)
	}
	e.putPolicy(a.APIKey, func(p map[string]any) {}) // min_aal left out: 1
	if r := e.verify(a.APIKey, pwd.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("after the policy went back to min_aal 1 = %d %s", r.Status, r.Body)
	}
}

// Bad factor input is a 400 naming the field, never a 500.
func TestFactorInputIsChecked(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Bank")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
	for _, c := range []struct {
		name  string
		r     req
		field string
	}{
		{"an unknown method", req{method: "POST", path: "/v1/sessions", body: map[string]any{"user_id": "a", "amr": []string{"password"}}}, "amr.0"},
		{"amr on an anonymous session", req{method: "POST", path: "/v1/sessions", body: map[string]any{"amr": []string{"pwd"}}}, "amr"},
		{"amr on a regenerate that is neither a login nor a re-authentication", req{method: "POST", path: "/v1/sessions/regenerate", body: map[string]any{"token": s.Token, "amr": []string{"otp"}}}, "amr"},
		{"min_aal 3", req{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token, "min_aal": 3}}, "min_aal"},
		{"an unknown method in max_factor_age", req{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token, "max_factor_age": map[string]int{"pw\x00d": 1}}}, "max_factor_age"},
		{"a negative max_factor_age", req{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token, "max_factor_age": map[string]int{"otp": -1}}}, "max_factor_age.*"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.r.token = a.APIKey
			r := e.do(c.r)
			if r.Status != http.StatusBadRequest || r.code(t) != "invalid_request" || !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
				t.Fatalf("= %d %s, want 400 naming %s", r.Status, r.Body, c.field)
			}
		})
	}
}

type profiled struct {
	Session struct {
		ID            string    `json:"id"`
		UserID        string    `json:"user_id"`
		Profile       string    `json:"profile"`
		IdleTimeout   int       `json:"idle_timeout"`
		ExpiresAt     time.Time `json:"expires_at"`
		IdleExpiresAt time.Time `json:"idle_expires_at"`
		Actor         *struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"actor"`
	} `json:"session"`
	Token   string   `json:"token"`
	Evicted []string `json:"evicted"`
}

func (e *env) createProfiled(key string, body map[string]any) profiled {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/sessions", token: key, body: body})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create %v: %d %s", body, r.Status, r.Body)
	}
	var p profiled
	r.decode(e.t, &p)
	return p
}

// Remember-me: a tenant offering it gives remember: true sessions its
// lifetime, at create and at a login; one without refuses them; a
// tightened remember_me lifetime reaches them.
func TestRememberMeOverHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice", "remember": true}}); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"remember"`) {
		t.Fatalf("remember without a remember_me lifetime = %d %s", r.Status, r.Body)
	}
	e.putPolicy(a.APIKey, func(p map[string]any) {
		p["remember_me"] = map[string]any{"idle_timeout": 86400, "absolute_timeout": 30 * 86400}
	})
	now := e.clock.Now()
	s := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice", "remember": true})
	if s.Session.Profile != "remember_me" || s.Session.IdleTimeout != 86400 || !s.Session.ExpiresAt.Equal(now.Add(30*24*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("a remember-me session = %+v", s.Session)
	}
	plain := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice"})
	if plain.Session.Profile != "standard" || !plain.Session.ExpiresAt.Equal(now.Add(8*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("a standard session = %+v", plain.Session)
	}

	// The seed flow's login with "remember me" ticked: an anonymous session logs in.
	anon := e.createProfiled(a.APIKey, map[string]any{})
	e.clock.Advance(time.Minute)
	r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": anon.Token, "user_id": "bob", "remember": true}})
	var login profiled
	r.decode(t, &login)
	if r.Status != http.StatusOK || login.Session.Profile != "remember_me" || !login.Session.ExpiresAt.Equal(e.clock.Now().Add(30*24*time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("a login with remember = %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": login.Token, "remember": true}}); r.Status != http.StatusBadRequest {
		t.Fatalf("remember on a regenerate that is no login = %d %s", r.Status, r.Body)
	}

	// 20 idle hours: a remembered session lives, a standard one has ended.
	e.clock.Advance(20 * time.Hour)
	if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("a remembered session after 20 idle hours = %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, plain.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("a standard session after 20 idle hours = %d %s", r.Status, r.Body)
	}
	// Tightening the remember_me lifetime (to one day) reaches the live session.
	e.putPolicy(a.APIKey, func(p map[string]any) {
		p["remember_me"] = map[string]any{"idle_timeout": 86400, "absolute_timeout": 86400}
	})
	e.clock.Advance(5 * time.Hour)
	if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_expired_absolute" {
		t.Fatalf("a remembered session past a tightened lifetime = %d %s", r.Status, r.Body)
	}
}

// Impersonation: a support agent's session as alice carries its actor in
// verify and in its events, lives by the impersonation lifetime, never
// evicts alice's own devices, and ends alone with ?actor=any.
func TestImpersonationOverHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Shop")
	e.putPolicy(a.APIKey, func(p map[string]any) {
		p["max_sessions_per_user"] = 2
		p["impersonation"] = map[string]any{"idle_timeout": 300, "absolute_timeout": 1200}
	})
	own1 := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice"})
	e.clock.Advance(time.Second)
	own2 := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice"})
	e.clock.Advance(time.Second)
	now := e.clock.Now()
	imp := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice", "actor": map[string]any{"type": "support", "id": "agent-7"}})
	if len(imp.Evicted) != 0 || imp.Session.Profile != "impersonation" || imp.Session.Actor == nil || imp.Session.Actor.ID != "agent-7" ||
		imp.Session.IdleTimeout != 300 || !imp.Session.ExpiresAt.Equal(now.Add(20*time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("an impersonated session = %+v", imp)
	}
	r := e.verify(a.APIKey, imp.Token, nil)
	var v profiled
	r.decode(t, &v)
	if r.Status != http.StatusOK || v.Session.Actor == nil || v.Session.Actor.Type != "support" || v.Session.UserID != "alice" {
		t.Fatalf("verify of the impersonated session = %d %s", r.Status, r.Body)
	}
	for _, own := range []profiled{own1, own2} {
		if r := e.verify(a.APIKey, own.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("alice's own session after the impersonation = %d %s", r.Status, r.Body)
		}
	}
	// Alice's devices list shows it, with who acts.
	list := string(e.do(req{method: "GET", path: "/v1/users/alice/sessions", token: a.APIKey}).Body)
	if !strings.Contains(list, `"actor":{"type":"support","id":"agent-7"}`) || strings.Count(list, `"id":"s`) != 3 {
		t.Fatalf("alice's sessions = %s", list)
	}
	// A third own session evicts the oldest own one, never the impersonation.
	own3 := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice"})
	if len(own3.Evicted) != 1 || own3.Evicted[0] != own1.Session.ID {
		t.Fatalf("the cap evicted %v, want alice's oldest own session %s", own3.Evicted, own1.Session.ID)
	}

	r = e.do(req{method: "DELETE", path: "/v1/users/alice/sessions?actor=any", token: a.APIKey})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), imp.Session.ID) || !strings.Contains(string(r.Body), `"count":1`) {
		t.Fatalf("ending the impersonations = %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, imp.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the impersonated session after ?actor=any = %d", r.Status)
	}
	for _, own := range []profiled{own2, own3} {
		if r := e.verify(a.APIKey, own.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("alice's own session after ?actor=any = %d %s", r.Status, r.Body)
		}
	}

	// The impersonation lifetime: 5 idle minutes end it.
	imp2 := e.createProfiled(a.APIKey, map[string]any{"user_id": "alice", "actor": map[string]any{"type": "admin", "id": "root"}})
	e.clock.Advance(6 * time.Minute)
	if r := e.verify(a.APIKey, imp2.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_expired_idle" {
		t.Fatalf("an impersonation after 6 idle minutes = %d %s", r.Status, r.Body)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/alice/sessions?actor=any&except=" + own2.Session.ID, token: a.APIKey}); r.Status != http.StatusBadRequest {
		t.Fatalf("actor with except = %d %s", r.Status, r.Body)
	}

	e.flushEvents()
	body := string(e.do(req{method: "GET", path: "/v1/events?user_id=alice&type=session.created", token: a.APIKey}).Body)
	if !strings.Contains(body, `"impersonator":"support:agent-7"`) {
		t.Errorf("session.created does not name the impersonator: %s", body)
	}
	body = string(e.do(req{method: "GET", path: "/v1/events?user_id=alice&type=session.expired", token: a.APIKey}).Body)
	if !strings.Contains(body, `"impersonator":"admin:root"`) {
		t.Errorf("session.expired of the impersonation does not name the impersonator: %s", body)
	}
	body = string(e.do(req{method: "GET", path: "/v1/events?user_id=alice&type=session.revoked", token: a.APIKey}).Body)
	if !strings.Contains(body, "impersonation_ended") || !strings.Contains(body, `"impersonator":"support:agent-7"`) {
		t.Errorf("no session.revoked with reason impersonation_ended: %s", body)
	}
}
