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
