package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/tenants"
)

// checkedPasswords counts the sign-ins whose password was checked: each
// records one admin.login_failed event with reason bad_password or
// unknown_email (a rate-limited one is refused before the check).
func (e *env) checkedPasswords(tenantIDs ...string) int {
	e.t.Helper()
	e.flushEvents()
	n := 0
	for _, tid := range tenantIDs {
		list, _, err := e.app.Store.ListEvents(context.Background(), events.Filter{TenantID: tid, Type: events.AdminLoginFailed, Limit: 200})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range list {
			if r := ev.Detail["reason"]; r == "bad_password" || r == "unknown_email" {
				n++
			}
		}
	}
	return n
}

// Many wrong passwords at once: each attempt reserves its place in the
// limits before its password is checked, so no more than the limit are
// checked, however they interleave.
func TestConcurrentWrongPasswordsAreCheckedAtMostTheLimit(t *testing.T) {
	for _, c := range []struct {
		name     string
		throttle adminauth.Throttle
		email    func(i int) string
	}{
		{"one account", adminauth.Throttle{PerIP: 100, PerPair: 5}, func(int) string { return "ops@acme.example" }},
		{"one IP", adminauth.Throttle{PerIP: 5, PerPair: 100}, func(i int) string { return "nobody" + strconv.Itoa(i) + "@acme.example" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{dev: true, throttle: c.throttle})
			a := e.createTenant("Acme")
			e.createAdmin(a.ID, "ops@acme.example", password)
			statuses := map[int]int{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := 0; i < 50; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := e.newClient().post("/admin/login", url.Values{"email": {c.email(i)}, "password": {"wrong password " + strconv.Itoa(i)}})
					mu.Lock()
					statuses[p.Status]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 45 {
				t.Fatalf("statuses %v: want 5 × 401 and 45 × 429", statuses)
			}
			if n := e.checkedPasswords(a.ID, tenants.SystemTenantID); n != 5 {
				t.Fatalf("%d passwords were checked, want 5 (the limit)", n)
			}
		})
	}
}

// Failures slow an (account, source) pair down instead of locking the
// account: each attempt past the free ones waits a doubling delay (capped),
// and only that pair's attempts within the delay are refused, so the right
// password from another source works at once, and from the attacker's
// source as soon as the delay has passed.
func TestFailedSignInsSlowAnAccountAndSourceDownWithoutLockingItOut(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 100, PerPair: 3, MaxDelay: 20 * time.Second}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	attacker := e.newClientFrom("127.0.0.2")
	wrong := func(i int) page {
		return attacker.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {"wrong password " + strconv.Itoa(i)}})
	}

	for i := 0; i < 3; i++ {
		wantStatus(t, "a free attempt", wrong(i), http.StatusUnauthorized)
	}
	var delays []int
	for i := 3; i < 10; i++ {
		p := wrong(i)
		wantStatus(t, "an attempt within the delay", p, http.StatusTooManyRequests)
		wait, err := strconv.Atoi(p.Header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
		}
		delays = append(delays, wait)
		e.clock.Advance(time.Duration(wait) * time.Second)
		wantStatus(t, "an attempt once the delay has passed", wrong(i), http.StatusUnauthorized)
	}
	if want := []int{1, 2, 4, 8, 16, 20, 20}; !slices.Equal(delays, want) {
		t.Fatalf("delays %v, want %v (doubling, capped)", delays, want)
	}

	t.Run("the right password from another source gets in within the delay", func(t *testing.T) {
		e.newClientFrom("127.0.0.3").login("ops@acme.example", password)
	})
	t.Run("the right password from the attacker's source waits", func(t *testing.T) {
		p := e.newClientFrom("127.0.0.2").post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
		wantStatus(t, "right password within the delay", p, http.StatusTooManyRequests)
		if got := p.Header.Get("Retry-After"); got != "20" {
			t.Fatalf("Retry-After = %q, want 20 (the cap)", got)
		}
	})
	t.Run("and gets in once it has passed", func(t *testing.T) {
		e.clock.Advance(20 * time.Second)
		e.newClientFrom("127.0.0.2").login("ops@acme.example", password)
	})
	t.Run("a success clears its pair's delay", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			wantStatus(t, "a free attempt again", wrong(100+i), http.StatusUnauthorized)
		}
	})
}

// The black-box probe that found the old per-account delay holdable: an
// attacker sends a wrong password at once, and again the moment each of
// its delays ends, for half an hour (30 times the maximum delay, two
// windows); whenever the attacker is being made to wait, the real admin
// signs in from another IP, from a browser that has never signed in (no
// known-device cookie). With the default limits the admin gets in every
// time.
func TestAnAttackerCannotHoldTheSignInShut(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	attacker := e.newClientFrom("127.0.0.2")
	start := e.clock.Now()
	statuses, signIns := map[int]int{}, 0
	for i := 0; e.clock.Now().Sub(start) < 30*time.Minute; i++ {
		p := attacker.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {"wrong password " + strconv.Itoa(i)}})
		statuses[p.Status]++
		if p.Status != http.StatusTooManyRequests {
			continue
		}
		owner := e.newClientFrom("127.0.0.3")
		if got := owner.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}}); got.Status != http.StatusSeeOther {
			t.Fatalf("after %v of attack (attacker's statuses %v), the admin's sign-in: %d, want 303", e.clock.Now().Sub(start), statuses, got.Status)
		}
		signIns++
		wait, err := strconv.Atoi(p.Header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
		}
		e.clock.Advance(time.Duration(wait) * time.Second) // the moment the delay ends
	}
	t.Logf("over %v: attacker's statuses %v, the admin signed in %d times", e.clock.Now().Sub(start), statuses, signIns)
	if statuses[http.StatusUnauthorized] < 20 || signIns < 20 {
		t.Fatalf("attacker's statuses %v, %d sign-ins: the attack did not run into the limits", statuses, signIns)
	}
}

// Per IP the limit is hard: past it, even a right password from that IP is
// refused until the failures age out, while other IPs are unaffected.
func TestFailedSignInsHaveAHardLimitPerIP(t *testing.T) {
	e := newEnv(t, envOptions{dev: true, throttle: adminauth.Throttle{PerIP: 4, PerPair: 100, Window: 10 * time.Minute}})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	noisy := e.newClientFrom("127.0.0.2")
	for i := 0; i < 4; i++ {
		p := noisy.post("/admin/login", url.Values{"email": {"nobody" + strconv.Itoa(i) + "@acme.example"}, "password": {"whatever it is"}})
		wantStatus(t, "a failure under the limit", p, http.StatusUnauthorized)
		e.clock.Advance(time.Minute)
	}
	p := noisy.post("/admin/login", url.Values{"email": {"ops@acme.example"}, "password": {password}})
	wantStatus(t, "the right password from the limited IP", p, http.StatusTooManyRequests)
	if got := p.Header.Get("Retry-After"); got != "360" {
		t.Errorf("Retry-After = %q, want 360 (when the oldest failure leaves the window)", got)
	}
	e.newClientFrom("127.0.0.3").login("ops@acme.example", password)
	e.clock.Advance(6 * time.Minute)
	noisy.login("ops@acme.example", password)
}
