package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestLogOutOtherDevicesKeepsExactlyTheChosenSession(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	var made []apiSession
	for _, d := range devices {
		made = append(made, e.createSession(a.APIKey, "alice", d.ua, d.ip))
	}
	other := e.createSession(a.APIKey, "bob", devices[0].ua, devices[0].ip)
	c := e.newClient()
	c.login("ops@acme.example", password)

	list := c.get("/admin/t/" + a.ID + "/sessions?user_id=alice")
	wantStatus(t, "alice's sessions", list, http.StatusOK)
	for i, s := range made {
		wantContains(t, "alice's sessions", list, `data-session-id="`+s.Session.ID+`"`, devices[i].ip)
	}
	wantContains(t, "device labels", list, "Chrome 126 on macOS", "Firefox 127 on Windows")
	if strings.Contains(list.Body, other.Session.ID) {
		t.Fatal("bob's session shows in alice's search")
	}
	for _, s := range append(made, other) {
		if strings.Contains(list.Body, s.Token) {
			t.Fatal("a session token is in the page")
		}
	}

	keep := made[1]
	p := c.post("/admin/t/"+a.ID+"/users/alice/logout-others", url.Values{"keep": {keep.Session.ID}, "back": {"/admin/t/" + a.ID + "/sessions?user_id=alice"}})
	wantStatus(t, "log out other devices", p, http.StatusSeeOther)
	after := c.get(p.Header.Get("Location"))
	wantContains(t, "flash", after, "Logged out 2 other session(s)")
	for i, s := range made {
		if got := e.verifies(a.APIKey, s.Token); got != (i == 1) {
			t.Errorf("session %d verifies = %v", i, got)
		}
	}
	if !e.verifies(a.APIKey, other.Token) {
		t.Error("another user's session was ended")
	}

	t.Run("revoke one session", func(t *testing.T) {
		p := c.post("/admin/t/"+a.ID+"/sessions/"+other.Session.ID+"/revoke", nil)
		wantStatus(t, "revoke", p, http.StatusSeeOther)
		if e.verifies(a.APIKey, other.Token) {
			t.Fatal("the revoked session still verifies")
		}
	})

	t.Run("log out everywhere", func(t *testing.T) {
		p := c.post("/admin/t/"+a.ID+"/users/alice/logout-all", nil)
		wantStatus(t, "logout-all", p, http.StatusSeeOther)
		if e.verifies(a.APIKey, keep.Token) {
			t.Fatal("a session survived logging out everywhere")
		}
		wantContains(t, "empty state", c.get("/admin/t/"+a.ID+"/users/alice"), "No live sessions")
	})
}

func TestSessionsPageIsPaginated(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	for i := 0; i < 30; i++ {
		e.createSession(a.APIKey, "user"+string(rune('a'+i%26))+string(rune('a'+i/26)), devices[i%3].ua, devices[i%3].ip)
	}
	c := e.newClient()
	c.login("ops@acme.example", password)
	first := c.get("/admin/t/" + a.ID + "/sessions")
	if n := strings.Count(first.Body, "data-session-id="); n != 25 {
		t.Fatalf("first page has %d sessions", n)
	}
	i := strings.Index(first.Body, `rel="next"`)
	if i < 0 {
		t.Fatal("no next page link")
	}
	href := first.Body[strings.LastIndex(first.Body[:i], `href="`)+6 : i-2]
	second := c.get(strings.ReplaceAll(href, "&amp;", "&"))
	if n := strings.Count(second.Body, "data-session-id="); n != 5 {
		t.Fatalf("second page has %d sessions", n)
	}
	wantStatus(t, "a forged cursor", c.get("/admin/t/"+a.ID+"/sessions?cursor=x.y.z"), http.StatusBadRequest)

	// A user page shows a page of devices, never all of them, and links on.
	for i := 0; i < 30; i++ {
		e.createSession(a.APIKey, "many", devices[i%3].ua, devices[i%3].ip)
	}
	user := c.get("/admin/t/" + a.ID + "/users/many")
	if n := strings.Count(user.Body, "data-session-id="); n != 25 {
		t.Fatalf("the user page has %d sessions", n)
	}
	wantContains(t, "user page", user, "25+ live session(s)", `rel="next"`)
	i = strings.Index(user.Body, `rel="next"`)
	href = user.Body[strings.LastIndex(user.Body[:i], `href="`)+6 : i-2]
	rest := c.get(strings.ReplaceAll(href, "&amp;", "&"))
	if n := strings.Count(rest.Body, "data-session-id="); n != 5 {
		t.Fatalf("the user's second page has %d sessions", n)
	}
	wantStatus(t, "a bad user id", c.get("/admin/t/"+a.ID+"/sessions?user_id=a%7Bb%7D"), http.StatusBadRequest)
}

func TestStateChangesNeedSameOriginAndCSRFToken(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	s := e.createSession(a.APIKey, "alice", devices[0].ua, devices[0].ip)
	c := e.newClient()
	c.login("ops@acme.example", password)
	path := "/admin/t/" + a.ID + "/sessions/" + s.Session.ID + "/revoke"

	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"a cross-origin POST without token", url.Values{}, map[string]string{"Origin": "https://evil.example"}},
		{"a cross-site POST with the right token", url.Values{"csrf": {c.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}},
		{"a same-site (sibling subdomain) POST with the right token", url.Values{"csrf": {c.csrf}}, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"a cross-origin POST with the right token and no Fetch metadata", url.Values{"csrf": {c.csrf}}, map[string]string{"Origin": "http://evil.example"}},
		{"a same-origin POST without token", url.Values{}, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"}},
		{"a same-origin POST with a wrong token", url.Values{"csrf": {strings.Repeat("A", 43)}}, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused with 403", func(t *testing.T) {
			p := c.postRaw(path, tc.form, tc.header)
			wantStatus(t, tc.name, p, http.StatusForbidden)
			if !e.verifies(a.APIKey, s.Token) {
				t.Fatal("the session was revoked anyway")
			}
		})
	}
	t.Run("a cross-origin sign-in is refused", func(t *testing.T) {
		c2 := e.newClient()
		p := c2.postRaw("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}, map[string]string{"Origin": "https://evil.example"})
		wantStatus(t, "cross-origin login", p, http.StatusForbidden)
	})
	t.Run("the same POST from the page works", func(t *testing.T) {
		wantStatus(t, "same-origin with token", c.post(path, nil), http.StatusSeeOther)
	})
	t.Run("state changes are never GETs", func(t *testing.T) {
		p := c.get("/admin/t/" + a.ID + "/users/alice/logout-all")
		if p.Status != http.StatusNotFound && p.Status != http.StatusMethodNotAllowed {
			t.Fatalf("GET on an action = %d", p.Status)
		}
	})
}
