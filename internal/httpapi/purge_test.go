package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/testkit"
)

// purgeEnv is one sessiond whose Redis is reached through a proxy the test
// can cut, with a tenant holding many sessions (and another tenant with one).
type purgeEnv struct {
	*env
	redis        *testkit.Proxy
	acme, globex tenant
	tokens       []string
	globexToken  string
}

func newPurgeEnv(t *testing.T, sessions int) *purgeEnv {
	t.Helper()
	rd := testkit.NewProxy(t, redisAddr(t))
	e := newEnv(t, envOptions{RedisURL: "redis://" + rd.Addr() + "/0"})
	p := &purgeEnv{env: e, redis: rd, acme: e.createTenant("Acme"), globex: e.createTenant("Globex")}
	// Long timeouts, so that advancing the clock past the purge's backoffs
	// expires nothing: the sessions must end by the purge.
	pol := validPolicy()
	pol["idle_timeout"], pol["absolute_timeout"], pol["max_sessions_per_user"] = 86400, 86400, 1000
	if r := e.do(req{method: "PUT", path: "/v1/policy", token: p.acme.APIKey, body: pol}); r.Status != http.StatusOK {
		t.Fatalf("policy: %d %s", r.Status, r.Body)
	}
	for i := range sessions {
		p.tokens = append(p.tokens, e.createSession(p.acme.APIKey, map[string]any{"user_id": fmt.Sprintf("user%d", i)}).Token)
	}
	p.globexToken = e.createSession(p.globex.APIKey, map[string]any{"user_id": "alice"}).Token
	return p
}

// hangUp sends a request and closes the connection without waiting for the
// answer, as a client that gives up at once: the server sees the request
// and then the end of the connection, which cancels the request's context.
func (e *env) hangUp(method, path, token, body string) {
	e.t.Helper()
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		method, path, u.Host, token, len(body), body)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = c.Close()
}

type tenantView struct {
	Status string `json:"status"`
	Purge  *struct {
		State      string `json:"state"`
		Reason     string `json:"reason"`
		NextBucket int    `json:"next_bucket"`
		Attempts   int    `json:"attempts"`
	} `json:"purge"`
}

func (e *env) tenantView(id string) tenantView {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/tenants/" + id, token: operatorToken})
	if r.Status != http.StatusOK {
		e.t.Fatalf("GET tenant: %d %s", r.Status, r.Body)
	}
	var v tenantView
	r.decode(e.t, &v)
	return v
}

func (e *env) setStatus(id, status string) resp {
	e.t.Helper()
	return e.do(req{method: "PATCH", path: "/v1/tenants/" + id, token: operatorToken, body: map[string]any{"status": status}})
}

// untilPurged waits for the tenant's purge job to complete (see
// apptest.Server.WaitPurged).
func (e *env) untilPurged(id string) {
	e.t.Helper()
	e.s.WaitPurged(e.t, id)
}

func (e *env) tenantRedisKeys(id string) []string {
	e.t.Helper()
	return testkit.ScanKeys(e.t, testkit.Redis(e.t), e.cfg.RedisPrefix+":{"+id+":*")
}

// A client that gives up right after sending a suspension: the suspension
// is stored and applied anyway, and its purge runs to completion in the
// background (here held back by a Redis outage, so that the test sees it
// pending). Resuming before it completes is 409; after, it is 200 and no
// session from before the suspension verifies.
func TestSuspendPurgesToCompletionWhenTheClientGivesUp(t *testing.T) {
	p := newPurgeEnv(t, 300)
	p.redis.Stop()
	p.hangUp("PATCH", "/v1/tenants/"+p.acme.ID, operatorToken, `{"status":"suspended"}`)
	eventually(t, 10*time.Second, "the suspension is stored", func() bool {
		return p.tenantView(p.acme.ID).Status == "suspended"
	})
	if v := p.tenantView(p.acme.ID); v.Purge == nil || v.Purge.State != "pending" || v.Purge.Reason != "suspend" {
		t.Fatalf("purge = %+v, want pending", v.Purge)
	}
	r := p.setStatus(p.acme.ID, "active")
	if r.Status != http.StatusConflict || r.code(t) != string(fault.Conflict) {
		t.Fatalf("resume before the purge completed = %d %s, want 409 conflict", r.Status, r.Body)
	}

	p.redis.Start()
	p.untilPurged(p.acme.ID)
	if v := p.tenantView(p.acme.ID); v.Purge == nil || v.Purge.State != "done" || v.Purge.NextBucket != 1024 || v.Status != "suspended" {
		t.Fatalf("after the purge: %+v %+v", v, v.Purge)
	}
	if r := p.setStatus(p.acme.ID, "active"); r.Status != http.StatusOK {
		t.Fatalf("resume after the purge = %d %s", r.Status, r.Body)
	}
	for i, tok := range p.tokens {
		if r := p.verify(p.acme.APIKey, tok, nil); r.Status != http.StatusUnauthorized || r.code(t) != "session_invalid" {
			t.Fatalf("old token %d after resume = %d %s", i, r.Status, r.Body)
		}
	}
	if left := p.tenantRedisKeys(p.acme.ID); len(left) != 0 {
		t.Fatalf("%d Redis keys of the suspended tenant are left", len(left))
	}
	if r := p.verify(p.globex.APIKey, p.globexToken, nil); r.Status != http.StatusOK {
		t.Fatalf("another tenant's session = %d %s", r.Status, r.Body)
	}
}

// With this instance cut from Redis, a suspension still answers (the
// status and the pending job are in PostgreSQL), the tenant's sessions are
// refused meanwhile from the tenant cache, and once Redis is back the job
// completes and the tenant can be resumed.
func TestSuspendWhileRedisIsDownCompletesWhenRedisReturns(t *testing.T) {
	p := newPurgeEnv(t, 50)
	p.redis.Stop()
	r := p.setStatus(p.acme.ID, "suspended")
	if r.Status != http.StatusOK {
		t.Fatalf("suspend with Redis down = %d %s", r.Status, r.Body)
	}
	if v := p.tenantView(p.acme.ID); v.Status != "suspended" || v.Purge == nil || v.Purge.State != "pending" {
		t.Fatalf("after the suspension: %+v %+v", v, v.Purge)
	}
	for _, tok := range p.tokens[:5] {
		if r := p.verify(p.acme.APIKey, tok, nil); r.Status != http.StatusForbidden || r.code(t) != "forbidden" {
			t.Fatalf("verify of the suspended tenant's session = %d %s", r.Status, r.Body)
		}
	}
	eventually(t, 10*time.Second, "a failed attempt is recorded", func() bool {
		v := p.tenantView(p.acme.ID)
		return v.Purge != nil && v.Purge.Attempts > 0
	})
	if r := p.setStatus(p.acme.ID, "active"); r.Status != http.StatusConflict {
		t.Fatalf("resume during the outage = %d %s", r.Status, r.Body)
	}

	p.redis.Start()
	p.untilPurged(p.acme.ID)
	if r := p.setStatus(p.acme.ID, "active"); r.Status != http.StatusOK {
		t.Fatalf("resume after the purge = %d %s", r.Status, r.Body)
	}
	for _, tok := range p.tokens {
		if r := p.verify(p.acme.APIKey, tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("old token after resume = %d %s", r.Status, r.Body)
		}
	}
	if logs := p.logs.String(); !strings.Contains(logs, "session purge: attempt failed; will retry") || !strings.Contains(logs, "session purge: completed") {
		t.Errorf("the purge's failure and completion are not logged:\n%s", logs)
	}
}

// Deleting a tenant stores its purge job with the deletion; the job
// outlives the tenant row and runs to completion, even across an outage.
func TestDeletePurgesToCompletion(t *testing.T) {
	p := newPurgeEnv(t, 100)
	p.redis.Stop()
	if r := p.do(req{method: "DELETE", path: "/v1/tenants/" + p.acme.ID, token: operatorToken}); r.Status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", r.Status, r.Body)
	}
	if len(p.tenantRedisKeys(p.acme.ID)) == 0 {
		t.Fatal("no keys to purge: the test proves nothing")
	}
	p.redis.Start()
	p.untilPurged(p.acme.ID)
	if left := p.tenantRedisKeys(p.acme.ID); len(left) != 0 {
		t.Fatalf("%d Redis keys of the deleted tenant are left", len(left))
	}
	if r := p.verify(p.globex.APIKey, p.globexToken, nil); r.Status != http.StatusOK {
		t.Fatalf("another tenant's session = %d %s", r.Status, r.Body)
	}
}
