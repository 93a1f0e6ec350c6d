package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/tenants"
)

const password = "correct horse battery staple"

func TestAdminSignsInAndOut(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	ad := e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()

	t.Run("a page asks a signed-out browser to sign in", func(t *testing.T) {
		p := c.get("/admin/t/" + a.ID + "/sessions")
		wantStatus(t, "GET sessions", p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/admin/login?next=%2Fadmin%2Ft%2F"+a.ID+"%2Fsessions" {
			t.Fatalf("Location = %q", loc)
		}
		wantContains(t, "login page", c.get("/admin/login"), `id="login-form"`, "Development mode over plain HTTP")
	})

	t.Run("signing in goes to the page asked for, with a flash", func(t *testing.T) {
		p := c.post("/admin/login", url.Values{"email": {"OPS@acme.example"}, "password": {password}, "next": {"/admin/t/" + a.ID + "/sessions"}})
		wantStatus(t, "POST login", p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/admin/t/"+a.ID+"/sessions" {
			t.Fatalf("Location = %q", loc)
		}
		ck := c.cookie("sessiond_admin")
		if ck == nil {
			t.Fatal("no sessiond_admin cookie over plain HTTP in dev mode")
		}
		wantContains(t, "sessions page", c.get("/admin/t/"+a.ID+"/sessions"), "Welcome back, ops@acme.example.", "No live sessions")
	})

	t.Run("the admin session is a sessiond session in the system tenant", func(t *testing.T) {
		list, err := e.app.Sessions.ListUser(context.Background(), tenants.SystemTenantID, ad.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("admin sessions = %v, %v", list, err)
		}
		if !strings.Contains(string(list[0].Data), `"role":"admin"`) || list[0].IdleTimeout != 15*60 {
			t.Fatalf("session = %+v", list[0])
		}
	})

	t.Run("an open redirect is not possible", func(t *testing.T) {
		c2 := e.newClient()
		for _, next := range []string{"https://evil.example/", "//evil.example/admin", "/\\evil.example", "/v1/policy"} {
			p := c2.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}, "next": {next}})
			if loc := p.Header.Get("Location"); loc != "/admin/t/"+a.ID+"/" {
				t.Errorf("next %q → Location %q", next, loc)
			}
		}
	})

	t.Run("signing in again replaces the browser's session", func(t *testing.T) {
		before, _ := e.app.Sessions.ListUser(context.Background(), tenants.SystemTenantID, ad.ID)
		old := c.cookie("sessiond_admin").Value
		c.login("ops@acme.example", password)
		if c.cookie("sessiond_admin").Value == old {
			t.Fatal("the cookie kept its token across a sign-in")
		}
		after, _ := e.app.Sessions.ListUser(context.Background(), tenants.SystemTenantID, ad.ID)
		if len(after) != len(before) {
			t.Fatalf("sessions before %d, after %d: the old one was not revoked", len(before), len(after))
		}
	})

	t.Run("signing out ends the session", func(t *testing.T) {
		token := c.cookie("sessiond_admin").Value
		p := c.post("/admin/logout", nil)
		wantStatus(t, "logout", p, http.StatusSeeOther)
		if _, err := e.app.Sessions.Verify(context.Background(), tenants.SystemTenantID, verifyParams(token), metaTest); err == nil {
			t.Fatal("the admin token still verifies after sign-out")
		}
		wantStatus(t, "page after sign-out", c.get("/admin/t/"+a.ID+"/"), http.StatusSeeOther)
	})

	t.Run("sign-in events are recorded in the admin's tenant", func(t *testing.T) {
		e.flushEvents()
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.AdminLoginSucceeded})
		if err != nil || len(list) < 2 || list[0].Detail["email"] != "ops@acme.example" {
			t.Fatalf("events = %+v, %v", list, err)
		}
	})
}

func TestAdminSessionTimesOut(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)
	e.clock.Advance(14 * 60 * 1e9)
	wantStatus(t, "after 14 min", c.get("/admin/t/"+a.ID+"/"), http.StatusOK)
	e.clock.Advance(15*60*1e9 + 1e9)
	p := c.get("/admin/t/" + a.ID + "/")
	wantStatus(t, "after 15 min idle", p, http.StatusSeeOther)
	wantContains(t, "login page", c.get(p.Header.Get("Location")), "Your session ended")
}

func TestCookieFlagsOverTLS(t *testing.T) {
	e := newEnv(t, envOptions{tls: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
	wantStatus(t, "login", p, http.StatusSeeOther)
	for _, name := range []string{"__Host-sessiond_admin", "__Host-sessiond_device"} {
		var raw string
		for _, sc := range p.Header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, name+"=") {
				raw = sc
			}
		}
		if raw == "" {
			t.Fatalf("no %s cookie in %q", name, p.Header.Values("Set-Cookie"))
		}
		ck, err := http.ParseSetCookie(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
			t.Fatalf("cookie flags: %q", raw)
		}
		if strings.Contains(strings.ToLower(raw), "domain=") {
			t.Fatalf("cookie has a Domain: %q", raw)
		}
	}
	home := c.get(p.Header.Get("Location"))
	wantStatus(t, "dashboard over TLS", home, http.StatusOK)
	if strings.Contains(home.Body, "Development mode") {
		t.Fatal("the plain-HTTP banner shows over TLS")
	}
}

func TestPlainHTTPIsRefusedOutsideDevMode(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	wantContains(t, "login page", c.get("/admin/login"), "The admin UI needs HTTPS")
	p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
	wantStatus(t, "login over plain HTTP", p, http.StatusForbidden)
	if len(p.Header.Values("Set-Cookie")) > 0 && strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), ";"), "sessiond_admin=v1") {
		t.Fatal("a session cookie was set over plain HTTP")
	}
}

func TestFailedSignInsAreRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 8, PerPair: 3}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()

	for i := 1; i <= 3; i++ {
		p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {"wrong password " + string(rune('a'+i))}})
		wantStatus(t, "wrong password", p, http.StatusUnauthorized)
		wantContains(t, "wrong password", p, "Wrong email or password.")
	}
	p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {"wrong again"}})
	wantStatus(t, "4th wrong password", p, http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantStatus(t, "the right password while blocked", c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}), http.StatusTooManyRequests)

	t.Run("the limit is per account and per IP", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			p := c.post("/admin/login", url.Values{"email": {"nobody" + string(rune('a'+i)) + "@acme.example"}, "password": {"whatever it is"}})
			wantStatus(t, "unknown emails", p, http.StatusUnauthorized)
		}
		p := c.post("/admin/login", url.Values{"email": {"someone@acme.example"}, "password": {"whatever it is"}})
		wantStatus(t, "past the per-IP limit", p, http.StatusTooManyRequests)
	})

	t.Run("the block is a security event in the admin's tenant", func(t *testing.T) {
		e.flushEvents()
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.AdminLoginFailed})
		if err != nil {
			t.Fatal(err)
		}
		var limited, bad int
		for _, ev := range list {
			switch ev.Detail["reason"] {
			case "rate_limited":
				limited++
			case "bad_password":
				bad++
			}
			if strings.Contains(ev.Detail["email"], "wrong") {
				t.Errorf("an event holds a password: %+v", ev)
			}
		}
		if limited != 1 || bad != 3 {
			t.Fatalf("rate_limited events %d (want 1 per window), bad_password %d: %+v", limited, bad, list)
		}
	})
}

// The limits are shared through Redis: failures spread over two replicas
// add up, so more replicas give an attacker no more attempts.
func TestSignInLimitsHoldAcrossInstances(t *testing.T) {
	one := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 50, PerPair: 4}})
	two := one.sibling()
	a := one.createTenant("Acme")
	one.createAdmin(a.ID, "ops@acme.example", password)
	c1, c2 := one.newClient(), two.newClient()
	for i, c := range []*client{c1, c2, c1, c2} {
		p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {"wrong password " + string(rune('a'+i))}})
		wantStatus(t, "wrong password", p, http.StatusUnauthorized)
	}
	for name, c := range map[string]*client{"instance one": c1, "instance two": c2} {
		p := c.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
		wantStatus(t, name+" after 4 failures spread over both", p, http.StatusTooManyRequests)
	}
	one.clock.Advance(15 * time.Minute) // the window passes (both clocks read the same instant)
	two.clock.Advance(15 * time.Minute)
	c2.login("ops@acme.example", password)
}
