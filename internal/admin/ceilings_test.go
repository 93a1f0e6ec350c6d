package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// The policy page shows the operator's ceilings to the tenant's admins and
// to operators, and its form refuses a value above one, next to the field,
// with the ceiling's value.
func TestPolicyPageShowsAndEnforcesTheCeilings(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	if _, err := e.app.Tenants.UpdateTenant(context.Background(), a.ID, tenants.TenantPatch{
		Limits: tenants.LimitsPatch{"max_sessions_per_user": testkit.Ptr(50), "requests_per_second": testkit.Ptr(77)},
	}, tenants.Actor{Name: "operator"}); err != nil {
		t.Fatal(err)
	}
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	wantContains(t, "policy page", c.get("/admin/t/"+a.ID+"/policy"), `id="ceilings"`,
		`data-ceiling="max_sessions_per_user"><td class="primary"><strong>Max sessions per user</strong></td><td data-label="Value">50</td>`,
		`data-ceiling="requests_per_second"><td class="primary"><strong>Requests a second</strong></td><td data-label="Value">77</td>`)

	form := url.Values{"idle_timeout": {"600"}, "absolute_timeout": {"3600"}, "max_sessions_per_user": {"51"}, "max_data_bytes": {"16384"},
		"on_limit": {"reject"}, "binding.user_agent": {"off"}, "binding.ip": {"off"}, "rolling": {"true"}}
	p := c.post("/admin/t/"+a.ID+"/policy", form)
	wantStatus(t, "above the ceiling", p, http.StatusBadRequest)
	wantContains(t, "above the ceiling", p, `id="max_sessions_per_user-error">Max sessions per user must be at most 50 (the operator&#39;s ceiling)`)
	form.Set("max_sessions_per_user", "50")
	wantStatus(t, "at the ceiling", c.post("/admin/t/"+a.ID+"/policy", form), http.StatusSeeOther)

	e.createAdmin(tenants.SystemTenantID, "root@sessiond.example", password)
	op := e.newClient()
	op.login("root@sessiond.example", password)
	wantContains(t, "operator's view", op.get("/admin/t/"+a.ID+"/policy"), `id="ceilings"`, `<td data-label="Value">77</td>`)
}
