package httpapi_test

import (
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apptest"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// The staleness bound under faults of one instance's connections: instance
// a writes, instance b reaches Redis (or PostgreSQL) through a fault proxy
// process. The bound is measured on b's injected clock: advancing it past
// SESSIOND_CACHE_STALE_AFTER must make b stop answering from what it held,
// at once, whatever its connection does.

// via returns rawURL with its host replaced by addr and query added.
func via(t testing.TB, rawURL, addr, query string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	if query != "" {
		q := u.Query()
		v, _ := url.ParseQuery(query)
		for k := range v {
			q.Set(k, v.Get(k))
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// replica starts another instance of a's deployment with o's URLs.
func replica(t testing.TB, a *env, o apptest.Options) *env {
	t.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = a.cfg.DatabaseURL
	}
	if o.RedisURL == "" {
		o.RedisURL = a.cfg.RedisURL
	}
	o.Prefix, o.MasterKey = a.cfg.RedisPrefix, a.cfg.MasterKey
	return wrap(t, apptest.Start(t, o))
}

// redisProxied starts b with Redis through a fault proxy. Its pooled
// connections are not reused after 1 ms idle, so a half-open fault hits
// the long-lived subscription and not the commands of the test.
func redisProxied(t testing.TB, a *env) (*env, *testkit.FaultProxy) {
	t.Helper()
	p := testkit.StartFaultProxy(t, redisAddr(t))
	return replica(t, a, apptest.Options{RedisURL: via(t, a.cfg.RedisURL, p.Addr(), "conn_max_idle_time=1ms")}), p
}

func policyStatus(e *env, key string) int {
	return e.do(req{method: "GET", path: "/v1/policy", token: key}).Status
}

// settled waits until b is confirmed current and accepts key.
func settled(t testing.TB, b *env, key string) {
	t.Helper()
	eventually(t, 15*time.Second, "instance b is confirmed and accepts the key", func() bool {
		return b.app.Cache.Confirmed() && policyStatus(b, key) == http.StatusOK
	})
}

var faults = []struct {
	name  string
	apply func(*testkit.FaultProxy)
}{
	{"frozen", (*testkit.FaultProxy).Freeze},
	{"half-open", (*testkit.FaultProxy).HalfOpen},
	{"cut", (*testkit.FaultProxy).Cut},
}

func TestARevokedKeyIsRefusedPastTheBoundWhateverThePubSubConnectionDoes(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			a := newEnv(t)
			b, p := redisProxied(t, a)
			tn := a.createTenant("Acme")
			k := a.createAPIKey(tn.APIKey, "temp", "admin")
			settled(t, b, k.Secret)

			f.apply(p)
			if r := a.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: tn.APIKey}); r.Status != http.StatusNoContent {
				t.Fatalf("revoke = %d %s", r.Status, r.Body)
			}
			b.clock.Advance(tenants.DefaultStaleAfter)
			if s := policyStatus(b, k.Secret); s != http.StatusUnauthorized {
				t.Fatalf("past the bound, instance b answers the revoked key with %d", s)
			}
			if s := policyStatus(b, tn.APIKey); s != http.StatusOK {
				t.Fatalf("past the bound, instance b answers a live key with %d", s)
			}
			p.Restore()
			eventually(t, 15*time.Second, "instance b is confirmed again after the fault", b.app.Cache.Confirmed)
			if s := policyStatus(b, k.Secret); s != http.StatusUnauthorized {
				t.Fatalf("after recovering, instance b answers the revoked key with %d", s)
			}
		})
	}
	t.Run("a frozen subscription is noticed without the clock moving", func(t *testing.T) {
		a := newEnv(t)
		b, p := redisProxied(t, a)
		tn := a.createTenant("Acme")
		k := a.createAPIKey(tn.APIKey, "temp", "admin")
		settled(t, b, k.Secret)
		p.Freeze()
		a.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: tn.APIKey})
		// Without PINGs on the subscription, b would wait for the hourly
		// refresh of these tests.
		eventually(t, 15*time.Second, "instance b refuses the revoked key", func() bool {
			return policyStatus(b, k.Secret) == http.StatusUnauthorized
		})
	})
}

func TestTokensOfARotatedKeyVerifyPastTheBoundOnAHalfOpenSubscription(t *testing.T) {
	a := newEnv(t)
	b, p := redisProxied(t, a)
	tn := a.createTenant("Acme")
	settled(t, b, tn.APIKey)
	p.HalfOpen()
	if r := a.do(req{method: "POST", path: "/v1/keys/rotate", token: tn.APIKey, body: map[string]any{}}); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("rotate = %d %s", r.Status, r.Body)
	}
	s := a.createSession(tn.APIKey, map[string]any{"user_id": "alice"}) // signed by the new key
	b.clock.Advance(tenants.DefaultStaleAfter)
	if r := b.verify(tn.APIKey, s.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("past the bound, instance b verifies a token of the new key with %d %s", r.Status, r.Body)
	}
}

func TestAWriterThatCannotReachRedisAnswersPromptlyAndTheOthersStillLearn(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			p := testkit.StartFaultProxy(t, redisAddr(t))
			a := newEnv(t, apptest.Options{RedisURL: via(t, testkit.RedisURL(), p.Addr(), "")})
			b := replica(t, a, apptest.Options{RedisURL: testkit.RedisURL()})
			tn := a.createTenant("Acme")
			k := a.createAPIKey(tn.APIKey, "temp", "admin")
			settled(t, b, k.Secret)

			f.apply(p)
			start := time.Now()
			if r := a.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: tn.APIKey}); r.Status != http.StatusNoContent {
				t.Fatalf("revoke = %d %s", r.Status, r.Body)
			}
			// Generous: a publish waiting on go-redis's timeouts takes 10 s.
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("the revoke took %s with Redis %s for the writer", took, f.name)
			}
			// Half-open spares connections made after it: a's pool may dial a
			// new one and publish at once, which is as good. Frozen and cut
			// leave no way through, so the notice must be held for a retry.
			if f.name != "half-open" && !strings.Contains(a.logs.String(), "tenant change not yet published") {
				t.Fatal("a did not log that its notice is still unsent")
			}
			p.Restore()
			// b's subscription is healthy, so it learns from a's retried notice.
			eventually(t, 20*time.Second, "instance b refuses the revoked key", func() bool {
				return policyStatus(b, k.Secret) == http.StatusUnauthorized
			})
		})
	}
}

func TestAReloadThatFailsIsRetriedAndTheTenantIsNeverServedStale(t *testing.T) {
	a := newEnv(t)
	p := testkit.StartFaultProxy(t, "127.0.0.1:5432")
	b := replica(t, a, apptest.Options{DatabaseURL: via(t, a.cfg.DatabaseURL, p.Addr(), "")})
	changed, other := a.createTenant("Acme"), a.createTenant("Other")
	k := a.createAPIKey(changed.APIKey, "temp", "admin")
	settled(t, b, k.Secret)
	settled(t, b, other.APIKey)

	p.Cut()
	if r := a.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: changed.APIKey}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	eventually(t, 15*time.Second, "instance b hears of the change", func() bool {
		return !b.app.Cache.ConfirmedFor(changed.ID)
	})
	for _, key := range []string{k.Secret, changed.APIKey} {
		r := b.do(req{method: "GET", path: "/v1/policy", token: key})
		if r.Status != http.StatusServiceUnavailable || r.code(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the changed tenant on b with PostgreSQL cut = %d %v %s", r.Status, r.Header, r.Body)
		}
	}
	if s := policyStatus(b, other.APIKey); s != http.StatusOK {
		t.Fatalf("an unchanged tenant on b with PostgreSQL cut = %d", s)
	}
	p.Restore()
	eventually(t, 20*time.Second, "instance b's reload is retried and succeeds", func() bool {
		return b.app.Cache.ConfirmedFor(changed.ID)
	})
	if s := policyStatus(b, k.Secret); s != http.StatusUnauthorized {
		t.Fatalf("after the retried reload, b answers the revoked key with %d", s)
	}
}

// TestPropagationDelays measures, with real-time clocks, how long after a's
// 200 b refuses a revoked key, under each fault of b's Redis connection
// (applied just before the change). It asserts nothing; run it with
// SESSIOND_MEASURE_PROPAGATION=50 (changes per fault) and -v.
func TestPropagationDelays(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SESSIOND_MEASURE_PROPAGATION"))
	if n <= 0 {
		t.Skip("set SESSIOND_MEASURE_PROPAGATION to the number of changes per fault")
	}
	modes := append([]struct {
		name  string
		apply func(*testkit.FaultProxy)
	}{{"normal", func(*testkit.FaultProxy) {}}}, faults...)
	for _, m := range modes {
		a := newEnv(t)
		b, p := redisProxied(t, a)
		stop := followRealTime(a.clock, b.clock)
		tn := a.createTenant("Acme")
		var took []time.Duration
		for range n {
			k := a.createAPIKey(tn.APIKey, "temp", "admin")
			settled(t, b, k.Secret)
			m.apply(p)
			a.do(req{method: "DELETE", path: "/v1/api-keys/" + k.ID, token: tn.APIKey})
			start := time.Now()
			for policyStatus(b, k.Secret) != http.StatusUnauthorized {
				time.Sleep(time.Millisecond)
			}
			took = append(took, time.Since(start))
			p.Restore()
		}
		stop()
		slices.Sort(took)
		t.Logf("%-9s n=%d p50=%s p99=%s max=%s", m.name, n,
			took[len(took)/2].Round(time.Millisecond), took[(len(took)*99)/100].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
}

// followRealTime advances the clocks with the real time until stop.
func followRealTime(clocks ...*testkit.Clock) (stop func()) {
	done := make(chan struct{})
	go func() {
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			now := time.Now()
			for _, c := range clocks {
				c.Advance(now.Sub(last))
			}
			last = now
		}
	}()
	return func() { close(done) }
}
