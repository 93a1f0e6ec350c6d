package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestOperatorCreatesTenantAdmins(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	b := e.createTenant("Globex")
	path := "/v1/tenants/" + a.ID + "/admins"

	r := e.do(req{method: "POST", path: path, token: operatorToken, body: map[string]any{"email": "Ops@Acme.example", "password": "correct horse battery"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	var got struct{ ID, TenantID, Email string }
	r.decode(t, &got)
	if !strings.HasPrefix(got.ID, "ad_") || got.Email != "Ops@Acme.example" {
		t.Fatalf("admin = %+v", got)
	}
	if strings.Contains(string(r.Body), "correct horse") || strings.Contains(string(r.Body), "argon2") {
		t.Fatalf("the answer carries the password or its hash: %s", r.Body)
	}

	t.Run("the password is stored only as an argon2id hash", func(t *testing.T) {
		var hash string
		if err := e.app.Pool.QueryRow(context.Background(), `SELECT password_hash FROM admins WHERE id = $1`, got.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, "correct horse") {
			t.Fatalf("stored hash = %q", hash)
		}
	})

	cases := []struct {
		name string
		r    req
		want int
		code string
	}{
		{"the same email again, in another case", req{method: "POST", path: path, token: operatorToken, body: map[string]any{"email": "ops@acme.EXAMPLE", "password": "another long password"}}, 409, "conflict"},
		{"the same email in another tenant", req{method: "POST", path: "/v1/tenants/" + b.ID + "/admins", token: operatorToken, body: map[string]any{"email": "ops@acme.example", "password": "another long password"}}, 409, "conflict"},
		{"a short password", req{method: "POST", path: path, token: operatorToken, body: map[string]any{"email": "short@acme.example", "password": "elevenchars"}}, 400, "invalid_request"},
		{"a bad email", req{method: "POST", path: path, token: operatorToken, body: map[string]any{"email": "Ops <ops@acme.example>", "password": "correct horse battery"}}, 400, "invalid_request"},
		{"an unknown field", req{method: "POST", path: path, token: operatorToken, body: map[string]any{"email": "x@acme.example", "password": "correct horse battery", "role": "operator"}}, 400, "invalid_request"},
		{"a tenant API key", req{method: "POST", path: path, token: a.APIKey, body: map[string]any{"email": "x@acme.example", "password": "correct horse battery"}}, 401, "unauthorized"},
		{"an unknown tenant", req{method: "POST", path: "/v1/tenants/tn_aaaaaaaaaaaaaaaa/admins", token: operatorToken, body: map[string]any{"email": "x@acme.example", "password": "correct horse battery"}}, 404, "not_found"},
		{"the reserved system tenant", req{method: "POST", path: "/v1/tenants/tn_system/admins", token: operatorToken, body: map[string]any{"email": "x@acme.example", "password": "correct horse battery"}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name+" is answered "+http.StatusText(c.want), func(t *testing.T) {
			r := e.do(c.r)
			if r.Status != c.want || r.code(t) != c.code {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), "horse") || strings.Contains(string(r.Body), "elevenchars") {
				t.Fatalf("the error repeats the password: %s", r.Body)
			}
		})
	}
}
