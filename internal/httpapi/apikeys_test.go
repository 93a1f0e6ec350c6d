package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

type apiKeyOut struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	Prefix string   `json:"prefix"`
	Secret string   `json:"secret"`
}

func (e *env) createAPIKey(token, name string, scopes ...string) apiKeyOut {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/api-keys", token: token, body: map[string]any{"name": name, "scopes": scopes}})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create API key: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		e.t.Errorf("API key creation is cacheable")
	}
	var k apiKeyOut
	r.decode(e.t, &k)
	return k
}

func TestAPIKeysAndScopes(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	sessionsOnly := e.createAPIKey(a.APIKey, "web backend", "sessions")

	t.Run("the secret is shown once and never listed", func(t *testing.T) {
		if !strings.HasPrefix(sessionsOnly.Secret, sessionsOnly.Prefix) || len(sessionsOnly.Secret) < 60 {
			t.Fatalf("key = %+v", sessionsOnly)
		}
		r := e.do(req{method: "GET", path: "/v1/api-keys", token: a.APIKey})
		if strings.Contains(string(r.Body), sessionsOnly.Secret) || strings.Contains(string(r.Body), `"secret"`) {
			t.Fatalf("listing shows a secret: %s", r.Body)
		}
		var list struct {
			APIKeys []apiKeyOut `json:"api_keys"`
		}
		r.decode(t, &list)
		if len(list.APIKeys) != 2 {
			t.Fatalf("keys = %+v", list.APIKeys)
		}
	})

	t.Run("a sessions-only key gets 403 on policy, keys, api-keys and events", func(t *testing.T) {
		for _, c := range []req{
			{method: "GET", path: "/v1/policy"},
			{method: "PUT", path: "/v1/policy", body: validPolicy()},
			{method: "GET", path: "/v1/keys"},
			{method: "POST", path: "/v1/keys/rotate"},
			{method: "GET", path: "/v1/api-keys"},
			{method: "POST", path: "/v1/api-keys", body: map[string]any{"name": "x", "scopes": []string{"admin"}}},
			{method: "DELETE", path: "/v1/api-keys/ak_aaaaaaaaaaaaaaaa"},
			{method: "GET", path: "/v1/events"},
		} {
			c.token = sessionsOnly.Secret
			if r := e.do(c); r.Status != http.StatusForbidden || r.code(t) != "forbidden" {
				t.Errorf("%s %s = %d %s", c.method, c.path, r.Status, r.Body)
			}
		}
	})

	t.Run("a revoked key stops working at once", func(t *testing.T) {
		admin := e.createAPIKey(a.APIKey, "ops", "admin")
		if r := e.do(req{method: "GET", path: "/v1/policy", token: admin.Secret}); r.Status != http.StatusOK {
			t.Fatalf("new key = %d", r.Status)
		}
		if r := e.do(req{method: "DELETE", path: "/v1/api-keys/" + admin.ID, token: a.APIKey}); r.Status != http.StatusNoContent {
			t.Fatalf("revoke = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "GET", path: "/v1/policy", token: admin.Secret}); r.Status != http.StatusUnauthorized {
			t.Fatalf("revoked key = %d", r.Status)
		}
		if r := e.do(req{method: "DELETE", path: "/v1/api-keys/" + admin.ID, token: a.APIKey}); r.Status != http.StatusNotFound {
			t.Fatalf("second revoke = %d", r.Status)
		}
	})

	t.Run("bad API key input", func(t *testing.T) {
		for name, body := range map[string]string{
			"no scopes":         `{"name":"x","scopes":[]}`,
			"an unknown scope":  `{"name":"x","scopes":["root"]}`,
			"no name":           `{"scopes":["admin"]}`,
			"a blank name":      `{"name":"  ","scopes":["admin"]}`,
			"scopes not array":  `{"name":"x","scopes":"admin"}`,
			"a NUL in the name": `{"name":"a\u0000b","scopes":["admin"]}`,
		} {
			if r := e.do(req{method: "POST", path: "/v1/api-keys", token: a.APIKey, body: body}); r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		for name, tok := range map[string]string{
			"a made-up key":          "sk_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52),
			"a truncated real key":   a.APIKey[:len(a.APIKey)-1],
			"a key with a bad shape": "sk_nope",
			"the operator token":     operatorToken,
		} {
			if r := e.do(req{method: "GET", path: "/v1/policy", token: tok}); r.Status != http.StatusUnauthorized || r.code(t) != "unauthorized" {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
	})
}

func TestTenantsCannotSeeOrChangeEachOther(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	b := e.createTenant("Globex")
	aKey := e.createAPIKey(a.APIKey, "a's key", "sessions")
	aKeys := e.keys(a.APIKey)
	e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey})

	// B uses A's ids: everything is "not found", nothing of A's changes.
	if r := e.do(req{method: "DELETE", path: "/v1/api-keys/" + aKey.ID, token: b.APIKey}); r.Status != http.StatusNotFound {
		t.Errorf("B revoking A's API key = %d", r.Status)
	}
	if r := e.do(req{method: "POST", path: "/v1/keys/" + aKeys[0].KID + "/retire", token: b.APIKey}); r.Status != http.StatusNotFound {
		t.Errorf("B retiring A's key = %d", r.Status)
	}
	e.do(req{method: "PUT", path: "/v1/policy", token: b.APIKey, body: validPolicy()})

	if r := e.do(req{method: "GET", path: "/v1/policy", token: aKey.Secret}); r.Status != http.StatusForbidden {
		t.Errorf("A's sessions key = %d", r.Status)
	}
	var pa policy
	e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).decode(t, &pa)
	if pa.IdleTimeout != 1800 {
		t.Errorf("B's policy change reached A: %+v", pa)
	}
	if ka := e.keys(a.APIKey); len(ka) != 2 || ka[1].State != "retiring" {
		t.Errorf("A's keyring changed: %+v", ka)
	}
	if kb := e.keys(b.APIKey); len(kb) != 1 || kb[0].KID == aKeys[0].KID {
		t.Errorf("B sees A's keys: %+v", kb)
	}
	body := string(e.do(req{method: "GET", path: "/v1/api-keys", token: b.APIKey}).Body)
	if strings.Contains(body, aKey.ID) {
		t.Errorf("B lists A's API key")
	}
	e.flushEvents()
	body = string(e.do(req{method: "GET", path: "/v1/events", token: b.APIKey}).Body)
	if strings.Contains(body, a.ID) {
		t.Errorf("B sees A's events: %s", body)
	}
}
