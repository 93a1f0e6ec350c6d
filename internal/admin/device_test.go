package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/events"
)

// A known device keeps its own budget (OWASP's device cookies): while
// failures from other sources hold the account at its ceiling, a browser
// that signed in to the account before still gets in, even from a source
// that is itself at its limit. A browser that is not a known device (here a
// new IP) is refused at the ceiling until the failures age out: that is the
// design, and one source alone can never bring the account there.
func TestAKnownDeviceGetsInWhileTheAccountIsAtItsCeiling(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 3, PerPair: 3, PerAccount: 6}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	e.createAdmin(a.ID, "dev@acme.example", password)
	signIn := func(c *client, email, pw string) page {
		return c.post("/admin/login", url.Values{"email": {email}, "password": {pw}})
	}

	laptop := e.newClientFrom("127.0.0.10")
	p := signIn(laptop, "ops@acme.example", password)
	wantStatus(t, "first sign-in", p, http.StatusSeeOther)
	var raw string
	for _, sc := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "sessiond_device=") {
			raw = sc
		}
	}
	ck, err := http.ParseSetCookie(raw)
	if err != nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge < 30*24*3600 {
		t.Fatalf("device cookie %q (%v): want HttpOnly, SameSite=Strict, Path=/, a long Max-Age", raw, err)
	}
	device := ck.Value

	for i, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3", "127.0.0.3"} {
		wantStatus(t, "a failure from another source", signIn(e.newClientFrom(ip), "ops@acme.example", "wrong password "+strconv.Itoa(i)), http.StatusUnauthorized)
	}
	p = signIn(e.newClientFrom("127.0.0.4"), "ops@acme.example", "wrong password x")
	wantStatus(t, "a third source at the account's ceiling", p, http.StatusTooManyRequests)
	p = signIn(e.newClientFrom("127.0.0.5"), "ops@acme.example", password)
	wantStatus(t, "the right password from a new IP at the ceiling", p, http.StatusTooManyRequests)
	wantContains(t, "refusal", p, "Too many failed sign-in attempts")

	t.Run("the known device gets in", func(t *testing.T) {
		laptop.login("ops@acme.example", password)
	})
	t.Run("even from a source at its own limit", func(t *testing.T) {
		c := e.newClientFrom("127.0.0.2")
		c.setCookie("sessiond_device", device)
		c.login("ops@acme.example", password)
	})
	t.Run("the cookie is known for its own account only", func(t *testing.T) {
		other := e.newClientFrom("127.0.0.2")
		other.setCookie("sessiond_device", device)
		wantStatus(t, "another account from the limited source", signIn(other, "dev@acme.example", password), http.StatusTooManyRequests)
	})
	t.Run("a tampered cookie is not known", func(t *testing.T) {
		for _, forged := range []string{device[:len(device)-2] + "xx", strings.Replace(device, ".", "..", 1), "d1.aaaaaaaaaaaaaaaa.99999999999.x", "\x00\xff"} {
			c := e.newClientFrom("127.0.0.6")
			c.setCookie("sessiond_device", url.QueryEscape(forged))
			wantStatus(t, "a forged device cookie", signIn(c, "ops@acme.example", password), http.StatusTooManyRequests)
		}
	})
	t.Run("a known device has a delay of its own", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			wantStatus(t, "a free failure of the device", signIn(laptop, "ops@acme.example", "wrong on the laptop "+strconv.Itoa(i)), http.StatusUnauthorized)
		}
		p := signIn(laptop, "ops@acme.example", password)
		wantStatus(t, "the device within its delay", p, http.StatusTooManyRequests)
		if got := p.Header.Get("Retry-After"); got != "1" {
			t.Fatalf("Retry-After = %q, want 1", got)
		}
		e.flushEvents()
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.AdminLoginFailed, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		limits := map[string]int{}
		for _, ev := range list {
			if ev.Detail["reason"] == "rate_limited" {
				limits[ev.Detail["limit"]]++
			}
		}
		if limits["account"] != 1 || limits["device"] != 1 {
			t.Fatalf("rate_limited events by limit: %v, want one for the account's ceiling and one for the device", limits)
		}
		e.clock.Advance(time.Second)
		laptop.login("ops@acme.example", password)
	})
	t.Run("the ceiling lifts as the failures age out", func(t *testing.T) {
		e.clock.Advance(15 * time.Minute)
		e.newClientFrom("127.0.0.5").login("ops@acme.example", password)
	})
}

// Every per-source limit counts an IPv6 source by its /64: two addresses in
// one /64 share a budget, two in different /64s do not; IPv4 counts by
// address.
func TestIPv6SourcesShareTheirSlash64sBudget(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, behindProxy: true, throttle: adminauth.Throttle{PerIP: 3, PerPair: 2}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	signIn := func(ip, email, pw string) page {
		return e.newClientVia(ip).post("/admin/login", url.Values{"email": {email}, "password": {pw}})
	}

	t.Run("the (account, source) delay", func(t *testing.T) {
		wantStatus(t, "a failure from ::a", signIn("2001:db8:1:2::a", "ops@acme.example", "wrong password 1"), http.StatusUnauthorized)
		wantStatus(t, "a failure from ::b", signIn("2001:db8:1:2::b", "ops@acme.example", "wrong password 2"), http.StatusUnauthorized)
		wantStatus(t, "the same /64's third attempt", signIn("2001:db8:1:2:ffff::1", "ops@acme.example", password), http.StatusTooManyRequests)
		wantStatus(t, "another /64", signIn("2001:db8:1:3::a", "ops@acme.example", password), http.StatusSeeOther)
	})
	t.Run("the source's hard limit", func(t *testing.T) {
		wantStatus(t, "the /64's third failure", signIn("2001:db8:1:2::c", "nobody@acme.example", "whatever it is"), http.StatusUnauthorized)
		wantStatus(t, "past the /64's limit", signIn("2001:db8:1:2::d", "someone@acme.example", "whatever it is"), http.StatusTooManyRequests)
		wantStatus(t, "another /64", signIn("2001:db8:1:3::b", "someone@acme.example", "whatever it is"), http.StatusUnauthorized)
	})
	t.Run("IPv4 counts by address", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			wantStatus(t, "a failure", signIn("203.0.113.5", "nobody"+strconv.Itoa(i)+"@acme.example", "whatever it is"), http.StatusUnauthorized)
		}
		wantStatus(t, "past the address's limit", signIn("203.0.113.5", "nobody@acme.example", "whatever it is"), http.StatusTooManyRequests)
		wantStatus(t, "the next address", signIn("203.0.113.6", "nobody@acme.example", "whatever it is"), http.StatusUnauthorized)
	})
	t.Run("events keep the whole address", func(t *testing.T) {
		e.flushEvents()
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: a.ID, Type: events.AdminLoginFailed, Limit: 100})
		if err != nil || len(list) == 0 {
			t.Fatalf("events %v, %v", list, err)
		}
		if ip := list[len(list)-1].IP; ip != "2001:db8:1:2::a" {
			t.Fatalf("the first failure's IP = %q, want 2001:db8:1:2::a", ip)
		}
	})
}
