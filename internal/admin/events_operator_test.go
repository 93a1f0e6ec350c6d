package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/tenants"
)

func TestTenantAdminsSeeNoOperatorIPOnTheirEventsPage(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(tenants.SystemTenantID, "root@sessiond.example", password)
	e.createAdmin(a.ID, "ops@acme.example", password)
	operator := e.newClientFrom("127.0.0.77")
	operator.login("root@sessiond.example", password)
	admin := e.newClient() // from 127.0.0.1
	admin.login("ops@acme.example", password)

	for who, c := range map[string]*client{"operator": operator, "tenant admin": admin} {
		wantStatus(t, who+" rotates the key", c.post("/admin/t/"+a.ID+"/keys/rotate", url.Values{"grace_period": {"60"}}), http.StatusSeeOther)
	}
	e.flushEvents()

	seen := admin.get("/admin/t/" + a.ID + "/events?type=key.rotated")
	wantStatus(t, "the tenant admin's events page", seen, http.StatusOK)
	if strings.Count(seen.Body, "admin:root@sessiond.example") != 1 || !strings.Contains(seen.Body, "127.0.0.1") {
		t.Fatalf("the page does not list both rotations: %s", seen.Body)
	}
	if strings.Contains(seen.Body, "127.0.0.77") {
		t.Error("the tenant admin sees the operator's IP")
	}
	if !strings.Contains(operator.get("/admin/t/"+a.ID+"/events?type=key.rotated").Body, "127.0.0.77") {
		t.Error("the operator no longer sees their own IP")
	}

	var list struct {
		Events []struct {
			Actor, IP string
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	if code := e.api("GET", "/v1/events?type=key.rotated", a.APIKey, nil, &list); code != http.StatusOK || len(list.Events) != 2 {
		t.Fatalf("GET /v1/events = %d, %d events", code, len(list.Events))
	}
	for _, ev := range list.Events {
		if ev.Actor == "admin:root@sessiond.example" && (ev.IP != "" || ev.UserAgent != "") {
			t.Errorf("the API shows the tenant the operator's IP %q and user agent %q", ev.IP, ev.UserAgent)
		}
	}
}
