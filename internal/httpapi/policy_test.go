package httpapi_test

import (
	"net/http"
	"testing"
)

type policy struct {
	IdleTimeout        int    `json:"idle_timeout"`
	AbsoluteTimeout    int    `json:"absolute_timeout"`
	MaxSessionsPerUser int    `json:"max_sessions_per_user"`
	OnLimit            string `json:"on_limit"`
	Rolling            bool   `json:"rolling"`
	Binding            struct {
		UserAgent string `json:"user_agent"`
		IP        string `json:"ip"`
	} `json:"binding"`
	MaxDataBytes int `json:"max_data_bytes"`
}

func validPolicy() map[string]any {
	return map[string]any{
		"idle_timeout": 900, "absolute_timeout": 3600, "max_sessions_per_user": 3,
		"on_limit": "reject", "rolling": false,
		"binding":        map[string]any{"user_agent": "report", "ip": "enforce"},
		"max_data_bytes": 4096,
	}
}

func TestPolicyDefaultsAndReplacement(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")

	var got policy
	e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).decode(t, &got)
	if got.IdleTimeout != 1800 || got.AbsoluteTimeout != 28800 || got.MaxSessionsPerUser != 100 ||
		got.OnLimit != "evict_oldest" || !got.Rolling || got.Binding.UserAgent != "off" ||
		got.Binding.IP != "off" || got.MaxDataBytes != 16384 {
		t.Fatalf("defaults = %+v", got)
	}

	r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: validPolicy()})
	if r.Status != http.StatusOK {
		t.Fatalf("put = %d %s", r.Status, r.Body)
	}
	e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).decode(t, &got)
	if got.IdleTimeout != 900 || got.AbsoluteTimeout != 3600 || got.MaxSessionsPerUser != 3 ||
		got.OnLimit != "reject" || got.Rolling || got.Binding.UserAgent != "report" || got.Binding.IP != "enforce" ||
		got.MaxDataBytes != 4096 {
		t.Fatalf("after put = %+v", got)
	}

	e.flushEvents()
	var evs struct {
		Events []struct{ Type, Actor string } `json:"events"`
	}
	e.do(req{method: "GET", path: "/v1/events?type=policy.changed", token: a.APIKey}).decode(t, &evs)
	if len(evs.Events) != 1 || evs.Events[0].Actor == "" {
		t.Fatalf("policy.changed events = %+v", evs.Events)
	}
}

func TestPolicyValidationNamesTheField(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	with := func(field string, v any) map[string]any {
		p := validPolicy()
		p[field] = v
		return p
	}
	without := func(field string) map[string]any {
		p := validPolicy()
		delete(p, field)
		return p
	}
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"idle longer than absolute", with("idle_timeout", 7200), "idle_timeout"},
		{"a zero idle timeout", with("idle_timeout", 0), "idle_timeout"},
		{"a fractional timeout", with("absolute_timeout", 10.5), "absolute_timeout"},
		{"a timeout over 400 days", with("absolute_timeout", 400*86400+1), "absolute_timeout"},
		{"a negative device cap", with("max_sessions_per_user", -1), "max_sessions_per_user"},
		{"an unknown on_limit", with("on_limit", "panic"), "on_limit"},
		{"an unknown binding mode", with("binding", map[string]any{"user_agent": "strict", "ip": "off"}), "binding.user_agent"},
		{"a string for a number", with("max_data_bytes", "16k"), "max_data_bytes"},
		{"a missing field", without("rolling"), "rolling"},
		{"an unknown field", with("sliding", true), "body"}, // reported without the name the client made up
	}
	for _, c := range cases {
		t.Run(c.name+" is 400 naming "+c.field, func(t *testing.T) {
			r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: c.body})
			var p struct {
				Code   string `json:"code"`
				Detail string `json:"detail"`
				Errors []struct{ Field, Message string }
			}
			r.decode(t, &p)
			if r.Status != http.StatusBadRequest || p.Code != "invalid_request" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			named := false
			for _, fe := range p.Errors {
				if fe.Field == c.field || containsWord(fe.Message, c.field) {
					named = true
				}
			}
			if !named {
				t.Fatalf("errors %+v do not name %s", p.Errors, c.field)
			}
		})
	}
	var got policy
	e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).decode(t, &got)
	if got.IdleTimeout != 1800 {
		t.Fatalf("a rejected PUT changed the policy: %+v", got)
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}
