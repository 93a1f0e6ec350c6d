package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestOperatorManagesTenants(t *testing.T) {
	e := newEnv(t)

	a := e.createTenant("Acme")
	b := e.createTenant("Globex")
	if !strings.HasPrefix(a.APIKey, "sk_") {
		t.Fatalf("first API key %q does not start with sk_", a.APIKey)
	}

	t.Run("create answers no-store because it carries the API key", func(t *testing.T) {
		r := e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken, body: map[string]any{"name": "Initech"}})
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q", got)
		}
	})

	t.Run("list pages in creation order", func(t *testing.T) {
		r := e.do(req{method: "GET", path: "/v1/tenants?limit=2", token: operatorToken})
		var page struct {
			Tenants []struct{ ID, Name string } `json:"tenants"`
			Next    string                      `json:"next_cursor"`
		}
		r.decode(t, &page)
		if len(page.Tenants) != 2 || page.Tenants[0].ID != a.ID || page.Tenants[1].ID != b.ID || page.Next == "" {
			t.Fatalf("first page = %+v", page)
		}
		r = e.do(req{method: "GET", path: "/v1/tenants?limit=2&cursor=" + page.Next, token: operatorToken})
		r.decode(t, &page)
		if len(page.Tenants) != 1 || page.Tenants[0].Name != "Initech" || page.Next != "" {
			t.Fatalf("second page = %+v", page)
		}
	})

	t.Run("get and rename", func(t *testing.T) {
		r := e.do(req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken, body: map[string]any{"name": "Acme Corp"}})
		if r.Status != http.StatusOK {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		r = e.do(req{method: "GET", path: "/v1/tenants/" + a.ID, token: operatorToken})
		var got struct{ Name, Status string }
		r.decode(t, &got)
		if got.Name != "Acme Corp" || got.Status != "active" {
			t.Fatalf("tenant = %+v", got)
		}
	})

	t.Run("suspension makes every call of the tenant 403 at once and ends its sessions; resuming restores the calls, not the sessions", func(t *testing.T) {
		live := e.createSession(b.APIKey, map[string]any{"user_id": "alice"})
		other := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
		e.do(req{method: "PATCH", path: "/v1/tenants/" + b.ID, token: operatorToken, body: map[string]any{"status": "suspended"}})
		if r := e.verify(b.APIKey, live.Token, nil); r.Status != http.StatusForbidden {
			t.Errorf("verify while suspended = %d %s", r.Status, r.Body)
		}
		for _, path := range []string{"/v1/policy", "/v1/keys", "/v1/api-keys", "/v1/events"} {
			if r := e.do(req{method: "GET", path: path, token: b.APIKey}); r.Status != http.StatusForbidden || r.code(t) != "forbidden" {
				t.Errorf("GET %s while suspended = %d %s", path, r.Status, r.Body)
			}
		}
		if r := e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}); r.Status != http.StatusOK {
			t.Errorf("another tenant is affected: %d", r.Status)
		}
		e.untilPurged(b.ID)
		if r := e.do(req{method: "PATCH", path: "/v1/tenants/" + b.ID, token: operatorToken, body: map[string]any{"status": "active"}}); r.Status != http.StatusOK {
			t.Fatalf("resume after the purge = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "GET", path: "/v1/policy", token: b.APIKey}); r.Status != http.StatusOK {
			t.Errorf("after resume = %d", r.Status)
		}
		if r := e.verify(b.APIKey, live.Token, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
			t.Errorf("a session from before the suspension verifies again after resume: %d %s", r.Status, r.Body)
		}
		if r := e.verify(a.APIKey, other.Token, nil); r.Status != http.StatusOK {
			t.Errorf("another tenant's session was ended: %d %s", r.Status, r.Body)
		}
	})

	t.Run("delete removes the tenant and its API keys stop working", func(t *testing.T) {
		if r := e.do(req{method: "DELETE", path: "/v1/tenants/" + b.ID, token: operatorToken}); r.Status != http.StatusNoContent {
			t.Fatalf("delete = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "GET", path: "/v1/tenants/" + b.ID, token: operatorToken}); r.Status != http.StatusNotFound {
			t.Fatalf("get after delete = %d", r.Status)
		}
		if r := e.do(req{method: "GET", path: "/v1/policy", token: b.APIKey}); r.Status != http.StatusUnauthorized {
			t.Fatalf("deleted tenant's key = %d", r.Status)
		}
	})
}

func TestOperatorEndpointsRejectBadInput(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	missing := "/v1/tenants/tn_aaaaaaaaaaaaaaaa"
	cases := []struct {
		name string
		r    req
		want int
		code string
	}{
		{"no credential", req{method: "GET", path: "/v1/tenants"}, 401, "unauthorized"},
		{"a wrong operator token", req{method: "GET", path: "/v1/tenants", token: strings.Repeat("x", 40)}, 401, "unauthorized"},
		{"a tenant API key on an operator endpoint", req{method: "GET", path: "/v1/tenants", token: a.APIKey}, 401, "unauthorized"},
		{"malformed JSON", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name":`}, 400, "invalid_request"},
		{"a wrong type", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name": 5}`}, 400, "invalid_request"},
		{"an unknown field", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name": "x", "admin": true}`}, 400, "invalid_request"},
		{"an empty name", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name": ""}`}, 400, "invalid_request"},
		{"a blank name", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name": "   "}`}, 400, "invalid_request"},
		{"a missing body", req{method: "POST", path: "/v1/tenants", token: operatorToken}, 400, "invalid_request"},
		{"a body that is not JSON", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: "name=x", contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"an oversized body", req{method: "POST", path: "/v1/tenants", token: operatorToken, body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`}, 413, "payload_too_large"},
		{"a malformed tenant id", req{method: "GET", path: "/v1/tenants/not-an-id", token: operatorToken}, 400, "invalid_request"},
		{"a tenant id with Redis metacharacters", req{method: "GET", path: "/v1/tenants/tn_%7Ba%7D%3A%2A", token: operatorToken}, 400, "invalid_request"},
		{"an unknown tenant", req{method: "GET", path: missing, token: operatorToken}, 404, "not_found"},
		{"patching an unknown tenant", req{method: "PATCH", path: missing, token: operatorToken, body: `{"status":"suspended"}`}, 404, "not_found"},
		{"deleting an unknown tenant", req{method: "DELETE", path: missing, token: operatorToken}, 404, "not_found"},
		{"an empty patch", req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken, body: `{}`}, 400, "invalid_request"},
		{"an unknown status", req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken, body: `{"status":"gone"}`}, 400, "invalid_request"},
		{"a limit over the maximum", req{method: "GET", path: "/v1/tenants?limit=1000", token: operatorToken}, 400, "invalid_request"},
		{"a forged cursor", req{method: "GET", path: "/v1/tenants?cursor=Zm9v", token: operatorToken}, 400, "invalid_request"},
		{"the reserved system tenant", req{method: "GET", path: "/v1/tenants/tn_system", token: operatorToken}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name+" is answered "+http.StatusText(c.want), func(t *testing.T) {
			r := e.do(c.r)
			if r.Status != c.want || r.code(t) != c.code {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type = %q", ct)
			}
		})
	}
}
