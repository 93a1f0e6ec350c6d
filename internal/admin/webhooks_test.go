package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The webhooks page: add an endpoint (its secret shown once), send a test
// event, see its delivery, redeliver it, delete the endpoint.
func TestWebhooksPage(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, hooks: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	var got atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	c := e.newClient()
	c.login("ops@acme.example", password)
	// The login's events are written before the endpoint exists: under load
	// a late flush would deliver them to it too.
	e.flushEvents()
	base := "/admin/t/" + a.ID + "/webhooks"

	wantStatus(t, "refused URL", c.post(base, url.Values{"url": {"ftp://example.com/"}}), http.StatusBadRequest)
	p := c.post(base, url.Values{"url": {rc.URL + "/hook"}, "description": {"crm"}})
	wantStatus(t, "create", p, http.StatusCreated)
	secret := p.Body[strings.Index(p.Body, `id="new-secret">`)+len(`id="new-secret">`):]
	secret = secret[:strings.Index(secret, "<")]
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret = %q", secret)
	}
	page := c.get(base)
	if strings.Contains(page.Body, secret) {
		t.Fatal("the secret is shown twice")
	}
	list, err := e.app.Webhooks.Store.ListEndpoints(context.Background(), a.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("endpoints %v %v", list, err)
	}
	id := list[0].ID
	wantStatus(t, "send test", c.post(base+"/"+id+"/test", nil), http.StatusSeeOther)
	e.app.Dispatcher.Pump(context.Background())
	if got.Load() != 1 {
		t.Fatalf("test event deliveries = %d", got.Load())
	}
	wantContains(t, "deliveries", c.get(base), "webhook.test", "delivered", "204", "Redeliver")
	ds, _ := e.app.Webhooks.Store.Deliveries(context.Background(), a.ID, id, 1)
	wantStatus(t, "redeliver", c.post(base+"/"+id+"/deliveries/"+strconv.FormatInt(ds[0].ID, 10)+"/redeliver", nil), http.StatusSeeOther)
	e.app.Dispatcher.Pump(context.Background())
	if got.Load() != 2 {
		t.Fatalf("after redeliver, deliveries = %d", got.Load())
	}
	wantStatus(t, "delete", c.post(base+"/"+id+"/delete", nil), http.StatusSeeOther)
	if list, _ := e.app.Webhooks.Store.ListEndpoints(context.Background(), a.ID); len(list) != 0 {
		t.Fatal("endpoint not deleted")
	}
	// An unknown endpoint's delivery is not found.
	wantStatus(t, "foreign redeliver", c.post("/admin/t/"+a.ID+"/webhooks/wh_aaaaaaaaaaaaaaaa/deliveries/1/redeliver", nil), http.StatusNotFound)
}
