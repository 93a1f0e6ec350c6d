package httpapi_test

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
)

// TestRedisClusterThroughTheAPI runs sessiond as configured for production
// on a Redis Cluster (REDIS_CLUSTER=true, seeds as addr= parameters) and
// drives the session API through it: caps, log out other devices, listing
// across slots, regenerate across buckets, and tenant notices over cluster
// pub/sub. scripts/test starts the cluster (scripts/redis-cluster.sh).
func TestRedisClusterThroughTheAPI(t *testing.T) {
	addrs := os.Getenv("SESSIOND_TEST_REDIS_CLUSTER")
	if addrs == "" {
		t.Skip("needs the Redis Cluster that scripts/test starts (SESSIOND_TEST_REDIS_CLUSTER)")
	}
	seeds := strings.Split(addrs, ",")
	url := "redis://" + seeds[0] + "?addr=" + strings.Join(seeds[1:], "&addr=")
	e := newEnv(t, envOptions{RedisURL: url, Cluster: true, Prefix: "sd:cl" + secrets.Encode(secrets.Random(5))})
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 3 })

	var ds []issued
	for range 4 {
		ds = append(ds, e.createSession(a.APIKey, map[string]any{"user_id": "alice"}))
		e.clock.Advance(time.Second)
	}
	if len(ds[3].Evicted) != 1 || ds[3].Evicted[0] != ds[0].Session.ID {
		t.Fatalf("eviction on the cluster: %v", ds[3].Evicted)
	}
	anon := e.createSession(a.APIKey, map[string]any{})
	r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": anon.Token, "user_id": "alice"}})
	var login issued
	r.decode(t, &login)
	if r.Status != http.StatusOK || len(login.Evicted) != 1 {
		t.Fatalf("login across slots on the cluster: %d %s", r.Status, r.Body)
	}
	for range 20 {
		e.createSession(a.APIKey, map[string]any{"user_id": "u" + secrets.Encode(secrets.Random(3))})
	}
	var page struct {
		Sessions []sessionOut `json:"sessions"`
	}
	e.do(req{method: "GET", path: "/v1/sessions?limit=200", token: a.APIKey}).decode(t, &page)
	if len(page.Sessions) != 23 {
		t.Fatalf("tenant-wide listing across slots found %d sessions, want 23", len(page.Sessions))
	}
	r = e.do(req{method: "DELETE", path: "/v1/users/alice/sessions?except=" + login.Session.ID, token: a.APIKey})
	if r.Status != http.StatusOK {
		t.Fatalf("log out other devices on the cluster: %d %s", r.Status, r.Body)
	}
	if r := e.verify(a.APIKey, login.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("the kept session: %d", r.Status)
	}
	two := e.sibling()
	k := e.createAPIKey(a.APIKey, "x", "admin")
	eventually(t, time.Second, "a sibling learns of a new key over cluster pub/sub", func() bool {
		return two.do(req{method: "GET", path: "/v1/policy", token: k.Secret}).Status == http.StatusOK
	})
}
