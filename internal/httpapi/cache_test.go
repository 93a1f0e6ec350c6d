package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testkit"
)

func TestChangesReachEveryInstanceWithinOneSecond(t *testing.T) {
	one := newEnv(t)
	two := one.sibling()
	a := one.createTenant("Acme")
	// The tenant was created on instance one; two learns of it by pub/sub.
	eventually(t, time.Second, "instance two knows the new tenant", func() bool {
		return two.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).Status == http.StatusOK
	})

	t.Run("a revoked API key", func(t *testing.T) {
		k := one.createAPIKey(a.APIKey, "temp", "admin")
		eventually(t, time.Second, "instance two accepts the new key", func() bool {
			return two.do(req{method: "GET", path: "/v1/policy", token: k.Secret}).Status == http.StatusOK
		})
		one.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: a.APIKey})
		eventually(t, time.Second, "instance two rejects the revoked key", func() bool {
			return two.do(req{method: "GET", path: "/v1/policy", token: k.Secret}).Status == http.StatusUnauthorized
		})
	})

	t.Run("a changed policy", func(t *testing.T) {
		two.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: validPolicy()})
		eventually(t, time.Second, "instance one serves the new policy", func() bool {
			var p policy
			one.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).decode(t, &p)
			return p.IdleTimeout == 900
		})
	})

	t.Run("a suspension", func(t *testing.T) {
		one.do(req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken, body: map[string]any{"status": "suspended"}})
		eventually(t, time.Second, "instance two refuses the suspended tenant", func() bool {
			return two.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}).Status == http.StatusForbidden
		})
	})
}

func TestOutagesAnswer503AndRecoverWithoutRestart(t *testing.T) {
	pg := testkit.NewProxy(t, "127.0.0.1:5432")
	rd := testkit.NewProxy(t, redisAddr(t))
	dbURL := pgURLVia(t, pg.Addr())
	e := newEnv(t, envOptions{DatabaseURL: dbURL, RedisURL: "redis://" + rd.Addr() + "/0"})
	a := e.createTenant("Acme")

	t.Run("with PostgreSQL down, cached tenants keep working and writes answer 503", func(t *testing.T) {
		pg.Stop()
		if r := e.do(req{method: "GET", path: "/v1/policy", token: a.APIKey}); r.Status != http.StatusOK {
			t.Fatalf("cached policy = %d %s", r.Status, r.Body)
		}
		if r := e.do(req{method: "GET", path: "/v1/keys", token: a.APIKey}); r.Status != http.StatusOK {
			t.Fatalf("cached keys = %d %s", r.Status, r.Body)
		}
		r := e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken, body: map[string]any{"name": "x"}})
		if r.Status != http.StatusServiceUnavailable || r.code(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("create during outage = %d %v %s", r.Status, r.Header, r.Body)
		}
		r = e.do(req{method: "GET", path: "/readyz"})
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d %s", r.Status, r.Body)
		}
		pg.Start()
		eventually(t, 5*time.Second, "writes work again", func() bool {
			return e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: validPolicy()}).Status == http.StatusOK
		})
	})

	t.Run("with Redis down, session calls answer 503 and work again after", func(t *testing.T) {
		s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})
		rd.Stop()
		if r := e.do(req{method: "GET", path: "/readyz"}); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d", r.Status)
		}
		for _, c := range []req{
			{method: "POST", path: "/v1/sessions/verify", body: map[string]any{"token": s.Token}},
			{method: "POST", path: "/v1/sessions", body: map[string]any{"user_id": "alice"}},
			{method: "GET", path: "/v1/users/alice/sessions"},
		} {
			c.token = a.APIKey
			r := e.do(c)
			if r.Status != http.StatusServiceUnavailable || r.code(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%s %s with Redis down = %d %v %s", c.method, c.path, r.Status, r.Header, r.Body)
			}
		}
		rd.Start()
		eventually(t, 5*time.Second, "ready again", func() bool {
			return e.do(req{method: "GET", path: "/readyz"}).Status == http.StatusOK
		})
		if r := e.verify(a.APIKey, s.Token, nil); r.Status != http.StatusOK {
			t.Fatalf("the session after the outage = %d %s", r.Status, r.Body)
		}
	})
	if got := e.logs.String(); containsWord(got, "panic") {
		t.Fatalf("a panic was logged")
	}
}

func redisAddr(t testing.TB) string {
	u, err := url.Parse(testkit.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func pgURLVia(t testing.TB, addr string) string {
	u, err := url.Parse(pgtestURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}
