package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/tenants"
)

// Bytes that are not text (NUL, invalid UTF-8) would reach PostgreSQL, which
// refuses them (a 500). In the sign-in form they are a failed sign-in like
// any other: 401, counted by the limits, recorded.
func TestSignInWithBytesThatAreNotTextIsAFailureThatCounts(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 4, PerPair: 100}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	for _, f := range []struct{ name, email, password string }{
		{"NUL in the email", "ops@acme.example\x00", password},
		{"invalid UTF-8 in the email", "ops\xff@acme.example", password},
		{"NUL in the password", "ops@acme.example", password + "\x00"},
		{"invalid UTF-8 in the password", "ops@acme.example", "\xffwrong password"},
	} {
		p := c.post("/admin/login", url.Values{"email": {f.email}, "password": {f.password}})
		wantStatus(t, f.name, p, http.StatusUnauthorized)
		wantContains(t, f.name, p, "Wrong email or password.")
	}
	p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
	wantStatus(t, "the right password after 4 counted failures from this IP", p, http.StatusTooManyRequests)

	e.flushEvents()
	reasons := map[string]int{}
	for _, tid := range []string{a.ID, tenants.SystemTenantID} {
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: tid, Type: events.AdminLoginFailed})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range list {
			reasons[ev.Detail["reason"]]++
		}
	}
	if reasons["unknown_email"] != 2 || reasons["bad_password"] != 2 {
		t.Fatalf("failure events by reason: %v, want 2 unknown_email and 2 bad_password", reasons)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("an error was logged:\n%s", e.logs.String())
	}
}

// No id in an admin URL can hold NUL or invalid UTF-8: such a path is 404
// (a query, 400; a signed-in form, 400), never a PostgreSQL error.
func TestAdminURLIdsThatAreNotTextAreNotFound(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	ad := e.createAdmin(a.ID, "ops@acme.example", password)
	e.createAdmin(tenants.SystemTenantID, "root@sessiond.example", password)
	op := e.newClient()
	op.login("root@sessiond.example", password)
	tn := "/admin/t/" + a.ID
	for _, bad := range []string{"%00", "%FF", "x%00y", "x%C3%28"} {
		for _, c := range []struct{ method, path string }{
			{"GET", "/admin/t/" + bad + "/"},
			{"GET", "/admin/t/tn_" + bad + "/sessions"},
			{"POST", "/admin/tenants/tn_" + bad + "/suspend"},
			{"POST", "/admin/tenants/tn_" + bad + "/resume"},
			{"POST", tn + "/admins/ad_" + bad + "/delete"},
			{"POST", tn + "/sessions/s" + bad + "/revoke"},
			{"GET", tn + "/users/u" + bad},
			{"POST", tn + "/users/u" + bad + "/logout-others"},
			{"POST", tn + "/users/u" + bad + "/logout-all"},
			{"POST", tn + "/keys/k_" + bad + "/retire"},
			{"POST", tn + "/api-keys/ak_" + bad + "/revoke"},
			{"POST", "/admin/account/sessions/s" + bad + "/revoke"},
		} {
			var p page
			if c.method == "GET" {
				p = op.get(c.path)
			} else {
				p = op.post(c.path, url.Values{"keep": {"sab_x"}})
			}
			wantStatus(t, c.method+" "+c.path, p, http.StatusNotFound)
		}
	}
	wantStatus(t, "a query that is not text", op.get(tn+"/events?user_id=a%00b"), http.StatusBadRequest)
	wantStatus(t, "a query that is not text", op.get(tn+"/sessions?user_id=%FF"), http.StatusBadRequest)
	wantStatus(t, "a signed-in form that is not text", op.post("/admin/tenants", url.Values{"name": {"Acme\x00"}}), http.StatusBadRequest)
	wantStatus(t, "a signed-in form that is not text", op.post(tn+"/admins", url.Values{"email": {"x\xff@acme.example"}, "password": {password}}), http.StatusBadRequest)

	if _, err := e.app.Tenants.Admin(context.Background(), ad.ID); err != nil {
		t.Fatalf("the admin is gone: %v", err)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("an error was logged:\n%s", e.logs.String())
	}
}
