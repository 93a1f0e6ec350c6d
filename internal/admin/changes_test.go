package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond/internal/changes"
)

// The admin UI's revocations reach the tenant's changes stream (what SDK
// caches follow), as the API's do.
func TestAdminRevocationsAreInTheChangesStream(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	keep := e.createSession(a.APIKey, "alice", devices[0].ua, devices[0].ip)
	e.createSession(a.APIKey, "alice", devices[1].ua, devices[1].ip)
	bob := e.createSession(a.APIKey, "bob", devices[0].ua, devices[0].ip)
	c := e.newClient()
	c.login("ops@acme.example", password)

	wantStatus(t, "log out others", c.post("/admin/t/"+a.ID+"/users/alice/logout-others", url.Values{"keep": {keep.Session.ID}}), http.StatusSeeOther)
	wantStatus(t, "revoke", c.post("/admin/t/"+a.ID+"/sessions/"+bob.Session.ID+"/revoke", nil), http.StatusSeeOther)
	wantStatus(t, "logout-all", c.post("/admin/t/"+a.ID+"/users/alice/logout-all", nil), http.StatusSeeOther)

	msgs, err := e.app.Redis.XRange(context.Background(), changes.StreamKey(e.s.Config.RedisPrefix, a.ID), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`user {"user_id":"alice","except":"` + keep.Session.ID + `"}`,
		`sessions {"ids":["` + bob.Session.ID + `"],"reason":"revoked"}`,
		`user {"user_id":"alice","except":null}`,
	}
	if len(msgs) != len(want) {
		t.Fatalf("stream has %d entries: %v", len(msgs), msgs)
	}
	for i, m := range msgs {
		if got := m.Values["k"].(string) + " " + m.Values["d"].(string); got != want[i] {
			t.Errorf("entry %d = %s; want %s", i, got, want[i])
		}
	}
}
