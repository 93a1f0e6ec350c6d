package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/tenants"
)

func TestOperatorManagesTenantsAndTheirAdmins(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	e.createAdmin(tenants.SystemTenantID, "root@sessiond.example", password)
	c := e.newClient()
	p := c.post("/admin/login", url.Values{"email": {"root@sessiond.example"}, "password": {password}})
	wantStatus(t, "operator login", p, http.StatusSeeOther)
	if loc := p.Header.Get("Location"); loc != "/admin/tenants" {
		t.Fatalf("operator home = %q", loc)
	}
	wantContains(t, "empty tenants", c.get("/admin/tenants"), "No tenants yet")

	p = c.post("/admin/tenants", url.Values{"name": {"Acme"}})
	wantStatus(t, "create tenant", p, http.StatusCreated)
	wantContains(t, "create tenant", p, "shown only this once", `id="new-secret">sk_`)
	list, _, _ := e.app.Tenants.ListTenants(context.Background(), tenants.Page{})
	if len(list) != 1 || list[0].Name != "Acme" {
		t.Fatalf("tenants = %+v", list)
	}
	acme := list[0].ID
	wantContains(t, "tenant list", c.get("/admin/tenants"), acme, "Suspend")
	wantStatus(t, "blank name", c.post("/admin/tenants", url.Values{"name": {"  "}}), http.StatusBadRequest)

	p = c.post("/admin/t/"+acme+"/admins", url.Values{"email": {"ops@acme.example"}, "password": {password}})
	wantStatus(t, "create admin", p, http.StatusSeeOther)
	wantContains(t, "admins", c.get("/admin/t/"+acme+"/admins"), "ops@acme.example", "Admin ops@acme.example can now sign in.")
	dup := c.post("/admin/t/"+acme+"/admins", url.Values{"email": {"OPS@acme.example"}, "password": {password}})
	wantStatus(t, "duplicate admin", dup, http.StatusBadRequest)
	wantContains(t, "duplicate admin", dup, "Email is already used by another admin")
	wantContains(t, "short password", c.post("/admin/t/"+acme+"/admins", url.Values{"email": {"x@acme.example"}, "password": {"short"}}), "Password must be at least 12 characters")

	admin := e.newClient()
	admin.login("ops@acme.example", password)

	wantStatus(t, "suspend", c.post("/admin/tenants/"+acme+"/suspend", nil), http.StatusSeeOther)
	wantContains(t, "suspended", c.get("/admin/tenants"), "is suspended", ">suspended<")
	wantStatus(t, "the tenant's admin is signed out", admin.get("/admin/t/"+acme+"/"), http.StatusSeeOther)
	wantStatus(t, "and cannot sign in", e.newClient().post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}), http.StatusForbidden)
	wantContains(t, "operator sees the suspended tenant", c.get("/admin/t/"+acme+"/"), "tenant suspended")

	e.s.WaitPurged(t, acme) // resuming is refused until the suspension's purge completes
	wantStatus(t, "resume", c.post("/admin/tenants/"+acme+"/resume", nil), http.StatusSeeOther)
	admin.login("ops@acme.example", password)

	t.Run("removing an admin signs them out everywhere", func(t *testing.T) {
		ad, err := e.app.Store.AdminByEmail(context.Background(), "ops@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		other, _, _, err := e.app.Tenants.CreateTenant(context.Background(), "Globex", tenants.Actor{Name: "operator"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "removing Acme's admin through another tenant", c.post("/admin/t/"+other.ID+"/admins/"+ad.ID+"/delete", nil), http.StatusNotFound)
		wantStatus(t, "the admin is still signed in", admin.get("/admin/t/"+acme+"/"), http.StatusOK)
		wantContains(t, "confirmation", c.get("/admin/t/"+acme+"/admins"), "Yes, remove", "signed out everywhere at once")
		p := c.post("/admin/t/"+acme+"/admins/"+ad.ID+"/delete", nil)
		wantStatus(t, "remove", p, http.StatusSeeOther)
		wantContains(t, "removed", c.get("/admin/t/"+acme+"/admins"), "was removed and signed out everywhere", "No admins yet")
		wantStatus(t, "the removed admin's next request", admin.get("/admin/t/"+acme+"/"), http.StatusSeeOther)
		wantStatus(t, "the removed admin signing in", e.newClient().post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}), http.StatusUnauthorized)
	})

	wantStatus(t, "operator cannot open the system tenant", c.get("/admin/t/"+tenants.SystemTenantID+"/"), http.StatusNotFound)
	wantStatus(t, "nor suspend it", c.post("/admin/tenants/"+tenants.SystemTenantID+"/suspend", nil), http.StatusNotFound)
}

func TestDashboardChartsCountEventsPerHour(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	first := e.clock.Now().UTC().Format("15") + ":00 UTC: 3</title>"
	for i := 0; i < 3; i++ {
		e.createSession(a.APIKey, "alice", devices[i].ua, devices[i].ip)
	}
	e.clock.Advance(3 * 3600e9)
	second := e.clock.Now().UTC().Format("15") + ":00 UTC: 1</title>"
	s := e.createSession(a.APIKey, "bob", devices[0].ua, devices[0].ip)
	e.verifies(a.APIKey, s.Token[:len(s.Token)-2]+"AA") // forged
	e.verifies(a.APIKey, "v1.nope")                     // malformed
	e.flushEvents()

	c := e.newClient()
	c.login("ops@acme.example", password)
	p := c.get("/admin/t/" + a.ID + "/")
	wantStatus(t, "dashboard", p, http.StatusOK)
	// Live: bob's only; alice's three ended idle (30 min) in the 3 hours.
	wantContains(t, "dashboard", p, `id="live-sessions">1<`, "4 sessions created in the last 24 hours",
		first, second, "2 verify failures in the last 24 hours", "forged <strong>2</strong>", "<svg")
	if strings.Count(p.Body, "<rect class=\"s0\"") < 2 {
		t.Fatal("no bars")
	}
}
