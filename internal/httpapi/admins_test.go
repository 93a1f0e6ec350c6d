package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
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

func TestOperatorListsAndDeletesTenantAdmins(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	b := e.createTenant("Globex")
	var ad struct{ ID string }
	e.do(req{method: "POST", path: "/v1/tenants/" + a.ID + "/admins", token: operatorToken,
		body: map[string]any{"email": "ops@acme.example", "password": "correct horse battery"}}).decode(t, &ad)
	// An admin UI session of theirs, as signing in makes.
	ctx := context.Background()
	ui, err := e.app.Sessions.Create(ctx, tenants.SystemTenantID, sessions.CreateParams{UserID: ad.ID}, sessions.Meta{})
	if err != nil {
		t.Fatal(err)
	}

	var list struct {
		Admins []struct{ ID, Email string } `json:"admins"`
	}
	e.do(req{method: "GET", path: "/v1/tenants/" + a.ID + "/admins", token: operatorToken}).decode(t, &list)
	if len(list.Admins) != 1 || list.Admins[0].ID != ad.ID {
		t.Fatalf("admins of A = %+v", list.Admins)
	}
	e.do(req{method: "GET", path: "/v1/tenants/" + b.ID + "/admins", token: operatorToken}).decode(t, &list)
	if len(list.Admins) != 0 {
		t.Fatalf("B lists A's admin: %+v", list.Admins)
	}

	if r := e.do(req{method: "DELETE", path: "/v1/tenants/" + b.ID + "/admins/" + ad.ID, token: operatorToken}); r.Status != http.StatusNotFound {
		t.Fatalf("deleting A's admin through B = %d", r.Status)
	}
	if _, err := e.app.Sessions.Verify(ctx, tenants.SystemTenantID, sessions.VerifyParams{Token: ui.Token}, sessions.Meta{}); err != nil {
		t.Fatalf("a failed delete ended the admin's session: %v", err)
	}
	if r := e.do(req{method: "DELETE", path: "/v1/tenants/" + a.ID + "/admins/" + ad.ID, token: operatorToken}); r.Status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", r.Status, r.Body)
	}
	if _, err := e.app.Sessions.Verify(ctx, tenants.SystemTenantID, sessions.VerifyParams{Token: ui.Token}, sessions.Meta{}); !fault.Is(err, fault.SessionInvalid) {
		t.Fatalf("the deleted admin's session still verifies: %v", err)
	}
	if _, err := e.app.Tenants.AuthenticateAdmin(ctx, "ops@acme.example", "correct horse battery"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("the deleted admin can still sign in: %v", err)
	}
	for _, c := range []req{
		{method: "DELETE", path: "/v1/tenants/" + a.ID + "/admins/" + ad.ID},
		{method: "GET", path: "/v1/tenants/tn_aaaaaaaaaaaaaaaa/admins"},
	} {
		c.token = operatorToken
		if r := e.do(c); r.Status != http.StatusNotFound {
			t.Errorf("%s %s = %d", c.method, c.path, r.Status)
		}
	}
	if r := e.do(req{method: "DELETE", path: "/v1/tenants/" + a.ID + "/admins/ad_%7B%7D", token: operatorToken}); r.Status != http.StatusBadRequest {
		t.Errorf("a malformed admin id = %d", r.Status)
	}
	e.flushEvents()
	if body := string(e.do(req{method: "GET", path: "/v1/events?type=admin.deleted", token: a.APIKey}).Body); !strings.Contains(body, ad.ID) {
		t.Fatalf("no admin.deleted event: %s", body)
	}
}
