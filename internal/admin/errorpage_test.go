package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/apptest"
	"github.com/sessiond/sessiond/internal/testkit"
)

// Error pages, 5xx included, show the request id (the X-Request-Id of the
// response, also in the server's log line), so an admin can quote it.
func TestErrorPagesShowTheRequestID(t *testing.T) {
	u, err := url.Parse(testkit.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rd := testkit.NewProxy(t, u.Host)
	u.Host = rd.Addr()
	e := wrapServer(t, apptest.Start(t, apptest.Options{Dev: true, RedisURL: u.String()}))
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)

	get := func(path, rid string) page {
		r, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		r.Header.Set("X-Request-Id", rid)
		return c.do(r)
	}
	p := get("/admin/no-such-page", "rid-not-found")
	wantStatus(t, "unknown page", p, http.StatusNotFound)
	wantContains(t, "404 page", p, `id="request-id"`, "rid-not-found")

	rd.Stop()
	p = get("/admin/t/"+a.ID+"/", "rid-redis-down")
	wantStatus(t, "a page with Redis down", p, http.StatusServiceUnavailable)
	wantContains(t, "503 page", p, `id="request-id"`, "rid-redis-down")
	if !strings.Contains(e.logs.String(), `"request_id":"rid-redis-down"`) {
		t.Error("the request id of the 503 is not in the server's log")
	}
	rd.Start()
}
