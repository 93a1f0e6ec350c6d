package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/tenants"
)

// limits is the wire shape of a tenant's ceilings: tenants.Limits, whose
// JSON names the spec fixes.
type limits = tenants.Limits

// setLimits changes a tenant's ceilings as the operator and returns them.
func (e *env) setLimits(tenantID string, patch map[string]any) limits {
	e.t.Helper()
	r := e.do(req{method: "PATCH", path: "/v1/tenants/" + tenantID, token: operatorToken, body: map[string]any{"limits": patch}})
	if r.Status != http.StatusOK {
		e.t.Fatalf("patch limits: %d %s", r.Status, r.Body)
	}
	var out struct {
		Limits limits `json:"limits"`
	}
	r.decode(e.t, &out)
	return out.Limits
}

func (e *env) policyOf(token string) policy {
	e.t.Helper()
	var p policy
	r := e.do(req{method: "GET", path: "/v1/policy", token: token})
	if r.Status != http.StatusOK {
		e.t.Fatalf("get policy: %d %s", r.Status, r.Body)
	}
	r.decode(e.t, &p)
	return p
}

// The operator API shows a tenant's effective ceilings (the deployment
// defaults until set), sets them at creation or by PATCH, and returns one
// to the default with null.
func TestOperatorSetsATenantsCeilings(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	var got struct {
		Limits limits `json:"limits"`
	}
	e.do(req{method: "GET", path: "/v1/tenants/" + a.ID, token: operatorToken}).decode(t, &got)
	d := tenants.DefaultLimits()
	if got.Limits.MaxDataBytes != d.MaxDataBytes || got.Limits.MaxSessionsPerUser != d.MaxSessionsPerUser ||
		got.Limits.IdleTimeout != d.IdleTimeout || got.Limits.AbsoluteTimeout != d.AbsoluteTimeout ||
		got.Limits.LiveSessions != d.LiveSessions || got.Limits.RetiringKeys != d.RetiringKeys ||
		got.Limits.EventsPerMinute != d.EventsPerMinute || got.Limits.RequestsPerSecond != e.cfg.Ceilings.RequestsPerSecond {
		t.Fatalf("a new tenant's limits = %+v, want the deployment defaults", got.Limits)
	}

	l := e.setLimits(a.ID, map[string]any{"max_data_bytes": 2048, "retiring_keys": 3})
	if l.MaxDataBytes != 2048 || l.RetiringKeys != 3 || l.MaxSessionsPerUser != d.MaxSessionsPerUser {
		t.Fatalf("after patch = %+v", l)
	}
	l = e.setLimits(a.ID, map[string]any{"max_data_bytes": nil})
	if l.MaxDataBytes != d.MaxDataBytes || l.RetiringKeys != 3 {
		t.Fatalf("after null = %+v, want max_data_bytes back at the default and retiring_keys kept", l)
	}

	r := e.do(req{method: "PATCH", path: "/v1/tenants/" + a.ID, token: operatorToken,
		body: map[string]any{"limits": map[string]any{"retiring_keys": 0}}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "limits.retiring_keys") {
		t.Fatalf("a ceiling of 0 = %d %s", r.Status, r.Body)
	}

	r = e.do(req{method: "POST", path: "/v1/tenants", token: operatorToken,
		body: map[string]any{"name": "Small", "limits": map[string]any{"max_data_bytes": 1000, "idle_timeout": 600}}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create with limits = %d %s", r.Status, r.Body)
	}
	var created struct {
		Tenant struct {
			Limits limits `json:"limits"`
		} `json:"tenant"`
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	r.decode(t, &created)
	if created.Tenant.Limits.MaxDataBytes != 1000 || created.Tenant.Limits.IdleTimeout != 600 {
		t.Fatalf("created with limits = %+v", created.Tenant.Limits)
	}
	// The default policy fits the new tenant's ceilings.
	if p := e.policyOf(created.APIKey.Secret); p.MaxDataBytes != 1000 || p.IdleTimeout != 600 {
		t.Fatalf("policy of a tenant created under low ceilings = %+v", p)
	}
}

// The default policy of a new tenant fits the deployment's default
// ceilings, also when they are set below the built-in default policy.
func TestDefaultPolicyFitsTheDefaultCeilings(t *testing.T) {
	e := newEnv(t, envOptions{Ceilings: tenants.Limits{MaxDataBytes: 4096, MaxSessionsPerUser: 10, AbsoluteTimeout: 3600}})
	a := e.createTenant("Acme")
	p := e.policyOf(a.APIKey)
	if p.MaxDataBytes != 4096 || p.MaxSessionsPerUser != 10 || p.AbsoluteTimeout != 3600 || p.IdleTimeout != 1800 {
		t.Fatalf("default policy = %+v", p)
	}
	if r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: p}); r.Status != http.StatusOK {
		t.Fatalf("putting the default policy back = %d %s", r.Status, r.Body)
	}
	// The policy was stored as the tenant saw it: raising its ceilings
	// later does not change it.
	b := e.createTenant("Globex")
	e.setLimits(b.ID, map[string]any{"max_data_bytes": 65536, "max_sessions_per_user": 1000, "absolute_timeout": 86400})
	if p := e.policyOf(b.APIKey); p.MaxDataBytes != 4096 || p.MaxSessionsPerUser != 10 || p.AbsoluteTimeout != 3600 {
		t.Fatalf("after the ceilings are raised = %+v, want the policy as created", p)
	}
}

// PUT /v1/policy above a ceiling is 400 naming the field, the ceiling and
// its value; at the ceiling it is 200.
func TestPolicyAboveACeilingIsRefused(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	e.setLimits(a.ID, map[string]any{"max_data_bytes": 8192, "max_sessions_per_user": 5, "idle_timeout": 600, "absolute_timeout": 7200})
	for _, c := range []struct {
		field   string
		at      int
		above   int
		ceiling int
	}{
		{"max_data_bytes", 8192, 8193, 8192},
		{"max_sessions_per_user", 5, 6, 5},
		{"max_sessions_per_user", 5, 0, 5}, // 0 is unlimited
		{"idle_timeout", 600, 601, 600},
		{"absolute_timeout", 7200, 7201, 7200},
	} {
		t.Run(c.field+"="+strconv.Itoa(c.above), func(t *testing.T) {
			p := validPolicy()
			p["idle_timeout"], p["absolute_timeout"] = 600, 7200
			p[c.field] = c.at
			if r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: p}); r.Status != http.StatusOK {
				t.Fatalf("at the ceiling: %d %s", r.Status, r.Body)
			}
			p[c.field] = c.above
			if c.field == "absolute_timeout" {
				p["idle_timeout"] = 60
			}
			r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: p})
			if r.Status != http.StatusBadRequest || r.code(t) != "invalid_request" {
				t.Fatalf("above the ceiling: %d %s", r.Status, r.Body)
			}
			var prob struct {
				Errors []struct{ Field, Message string } `json:"errors"`
			}
			r.decode(t, &prob)
			want := "must be at most " + strconv.Itoa(c.ceiling) + " (the operator's ceiling)"
			if len(prob.Errors) != 1 || prob.Errors[0].Field != c.field || !strings.Contains(prob.Errors[0].Message, want) {
				t.Fatalf("errors = %+v, want %s: %s", prob.Errors, c.field, want)
			}
		})
	}
}

// When the operator lowers a ceiling below a tenant's policy, the tenant's
// effective policy is the ceiling at once: GET /v1/policy shows it and the
// engine applies it. Raising the ceiling again restores the stored policy.
func TestLoweredCeilingClampsTheEffectivePolicy(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	p := validPolicy()
	p["max_data_bytes"], p["idle_timeout"], p["max_sessions_per_user"] = 32768, 3600, 500
	p["absolute_timeout"], p["on_limit"] = 7200, "reject"
	if r := e.do(req{method: "PUT", path: "/v1/policy", token: a.APIKey, body: p}); r.Status != http.StatusOK {
		t.Fatalf("put = %d %s", r.Status, r.Body)
	}
	_ = e.setLimits(a.ID, map[string]any{"max_data_bytes": 1024, "idle_timeout": 60, "max_sessions_per_user": 2})

	got := e.policyOf(a.APIKey)
	if got.MaxDataBytes != 1024 || got.IdleTimeout != 60 || got.MaxSessionsPerUser != 2 || got.AbsoluteTimeout != 7200 {
		t.Fatalf("effective policy = %+v, want the ceilings", got)
	}

	big := map[string]any{"blob": strings.Repeat("x", 2000)}
	r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice", "data": big}})
	if r.Status != http.StatusRequestEntityTooLarge || r.code(t) != "payload_too_large" {
		t.Fatalf("create with data over the lowered ceiling = %d %s", r.Status, r.Body)
	}
	var created struct {
		Session struct {
			IdleTimeout int `json:"idle_timeout"`
		} `json:"session"`
	}
	r = e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	r.decode(t, &created)
	if created.Session.IdleTimeout != 60 {
		t.Fatalf("a new session's idle timeout = %d, want the ceiling 60", created.Session.IdleTimeout)
	}
	// The cap of 500 is lowered to 2: with reject, alice's third session is
	// refused.
	if r := e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice"}}); r.Status != http.StatusCreated {
		t.Fatalf("second session = %d %s", r.Status, r.Body)
	}
	r = e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice"}})
	if r.Status != http.StatusConflict || r.code(t) != "session_limit_reached" {
		t.Fatalf("a third session under the lowered cap of 2 = %d %s", r.Status, r.Body)
	}

	_ = e.setLimits(a.ID, map[string]any{"max_data_bytes": nil, "idle_timeout": nil, "max_sessions_per_user": nil})
	if got := e.policyOf(a.APIKey); got.MaxDataBytes != 32768 || got.IdleTimeout != 3600 || got.MaxSessionsPerUser != 500 {
		t.Fatalf("after the ceilings go back to the defaults: %+v, want the stored policy", got)
	}
}

// A rotation is refused while the keyring holds the retiring_keys ceiling
// of retiring keys; retiring one, or a grace period ending, makes room.
func TestRotationsStopAtTheRetiringKeysCeiling(t *testing.T) {
	e := newEnv(t)
	a := e.createTenant("Acme")
	e.setLimits(a.ID, map[string]any{"retiring_keys": 2})
	rotate := func(grace int) resp {
		return e.do(req{method: "POST", path: "/v1/keys/rotate", token: a.APIKey, body: map[string]any{"grace_period": grace}})
	}
	for i := range 2 {
		if r := rotate(3600); r.Status != http.StatusCreated {
			t.Fatalf("rotation %d = %d %s", i+1, r.Status, r.Body)
		}
	}
	r := rotate(3600)
	if r.Status != http.StatusConflict || r.code(t) != "conflict" || !strings.Contains(string(r.Body), "retiring_keys") {
		t.Fatalf("a rotation at the ceiling = %d %s", r.Status, r.Body)
	}
	if r := rotate(0); r.Status != http.StatusConflict {
		t.Fatalf("a rotation at the ceiling, without grace = %d %s", r.Status, r.Body)
	}
	keys := e.keys(a.APIKey)
	if len(keys) != 3 {
		t.Fatalf("keyring = %+v, want the refused rotations to change nothing", keys)
	}
	if r := e.do(req{method: "POST", path: "/v1/keys/" + keys[1].KID + "/retire", token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("retire = %d %s", r.Status, r.Body)
	}
	if r := rotate(3600); r.Status != http.StatusCreated {
		t.Fatalf("a rotation after retiring one = %d %s", r.Status, r.Body)
	}
	e.clock.Advance(time.Hour)
	if r := rotate(3600); r.Status != http.StatusCreated {
		t.Fatalf("a rotation after the grace periods ended = %d %s", r.Status, r.Body)
	}
}

// A tenant over its requests_per_second ceiling gets 429 with Retry-After
// and the RateLimit headers; another tenant is unaffected; a second later
// the tenant's bucket has refilled. The clock is the test's, so this counts
// requests, not time.
func TestTenantRequestRateLimit(t *testing.T) {
	e := newEnv(t)
	a, b := e.createTenant("Acme"), e.createTenant("Globex")
	e.setLimits(a.ID, map[string]any{"requests_per_second": 3})
	e.setLimits(b.ID, map[string]any{"requests_per_second": 5})
	get := func(tn tenant) resp { return e.do(req{method: "GET", path: "/v1/policy", token: tn.APIKey}) }
	for i := range 3 {
		if r := get(a); r.Status != http.StatusOK {
			t.Fatalf("request %d of 3 = %d %s", i+1, r.Status, r.Body)
		}
	}
	r := get(a)
	if r.Status != http.StatusTooManyRequests || r.code(t) != "rate_limited" {
		t.Fatalf("request 4 of 3 = %d %s", r.Status, r.Body)
	}
	if h := r.Header; h.Get("Retry-After") != "1" || h.Get("RateLimit-Policy") != `"tenant";q=3;w=1` || h.Get("RateLimit") != `"tenant";r=0;t=1` {
		t.Fatalf("headers: Retry-After %q, RateLimit-Policy %q, RateLimit %q", h.Get("Retry-After"), h.Get("RateLimit-Policy"), h.Get("RateLimit"))
	}
	if !strings.Contains(string(r.Body), "requests_per_second") {
		t.Fatalf("the problem does not name the limit: %s", r.Body)
	}
	// A session call of the same tenant is refused too; the other tenant's
	// five are not.
	if r := e.do(req{method: "POST", path: "/v1/sessions/verify", token: a.APIKey, body: map[string]any{"token": "x"}}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("verify over the limit = %d %s", r.Status, r.Body)
	}
	for i := range 5 {
		if r := get(b); r.Status != http.StatusOK {
			t.Fatalf("the other tenant's request %d = %d %s", i+1, r.Status, r.Body)
		}
	}
	if r := get(b); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the other tenant's sixth = %d", r.Status)
	}
	e.clock.Advance(time.Second)
	for i := range 3 {
		if r := get(a); r.Status != http.StatusOK {
			t.Fatalf("a second later, request %d = %d %s", i+1, r.Status, r.Body)
		}
	}
	// The operator API is not rate-limited per tenant.
	if r := e.do(req{method: "GET", path: "/v1/tenants/" + a.ID, token: operatorToken}); r.Status != http.StatusOK {
		t.Fatalf("operator call = %d", r.Status)
	}
}

// A tenant at its live_sessions ceiling cannot create more sessions (409
// session_limit_reached naming the ceiling); another tenant can; ending
// sessions makes room again once they are counted.
func TestLiveSessionsCeiling(t *testing.T) {
	e := newEnv(t)
	a, b := e.createTenant("Acme"), e.createTenant("Globex")
	e.setLimits(a.ID, map[string]any{"live_sessions": 3})
	create := func(tn tenant, user string) resp {
		return e.do(req{method: "POST", path: "/v1/sessions", token: tn.APIKey, body: map[string]any{"user_id": user}})
	}
	var ids []string
	for i := range 3 {
		r := create(a, "u"+strconv.Itoa(i))
		if r.Status == http.StatusConflict {
			// The first create started the first count in the background;
			// creates finishing while it runs may be counted twice (the
			// estimate never misses one). The next count, with no create
			// running, is exact.
			e.clock.Advance(5 * time.Second)
			eventually(t, 5*time.Second, "a count with no create running makes room again", func() bool {
				r = create(a, "u"+strconv.Itoa(i))
				return r.Status == http.StatusCreated
			})
		}
		if r.Status != http.StatusCreated {
			t.Fatalf("session %d of 3 = %d %s", i+1, r.Status, r.Body)
		}
		var out struct {
			Session struct{ ID string } `json:"session"`
		}
		r.decode(t, &out)
		ids = append(ids, out.Session.ID)
	}
	// This instance counts its own creates at once, whatever the last count
	// from Redis said.
	r := create(a, "u3")
	if r.Status != http.StatusConflict || r.code(t) != "session_limit_reached" || !strings.Contains(string(r.Body), "live_sessions") {
		t.Fatalf("a fourth session = %d %s", r.Status, r.Body)
	}
	if r := create(b, "u0"); r.Status != http.StatusCreated {
		t.Fatalf("the other tenant = %d %s", r.Status, r.Body)
	}
	// Another instance's count comes from Redis.
	other := e.sibling()
	if r := other.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "u9"}}); r.Status != http.StatusCreated {
		t.Fatalf("the sibling's first create, before its first count = %d %s", r.Status, r.Body)
	}
	eventually(t, 5*time.Second, "the sibling counts the tenant's sessions", func() bool {
		r := other.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "u9"}})
		return r.Status == http.StatusConflict
	})
	// Ended sessions are seen at the next count.
	for _, id := range ids {
		if r := e.do(req{method: "DELETE", path: "/v1/sessions/" + id, token: a.APIKey}); r.Status != http.StatusNoContent {
			t.Fatalf("revoke = %d", r.Status)
		}
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/u9/sessions", token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("revoke u9 = %d", r.Status)
	}
	e.clock.Advance(5 * time.Second)
	eventually(t, 5*time.Second, "the count sees the revoked sessions", func() bool {
		return create(a, "u4").Status == http.StatusCreated
	})
}
