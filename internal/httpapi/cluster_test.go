package httpapi_test

import (
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/secrets"
)

// TestRedisClusterThroughTheAPI runs sessiond as configured for production
// on a Redis Cluster (REDIS_CLUSTER=true, seeds as addr= parameters) and
// drives the session API through it: caps, log out other devices, listing
// across slots, regenerate across buckets, and tenant notices over cluster
// pub/sub. scripts/test starts the cluster (scripts/redis-cluster.sh).
func TestRedisClusterThroughTheAPI(t *testing.T) {
	e := newClusterEnv(t, "sd:cl")
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

// TestRedisClusterVerifyBatch verifies, in one call, sessions whose keys
// hash to different slots (go-redis splits the pipeline by slot, one part
// per master): each result is what verify answers alone.
func TestRedisClusterVerifyBatch(t *testing.T) {
	e := newClusterEnv(t, "sd:clb")
	a := e.createTenant("Acme")
	var items []map[string]any
	slots := map[string]bool{}
	for i := range 12 {
		s := e.createSession(a.APIKey, map[string]any{"user_id": "u" + strconv.Itoa(i)})
		slots[s.Session.ID[1:3]] = true
		items = append(items, map[string]any{"token": s.Token, "csrf_token": s.CSRFToken})
	}
	if len(slots) < 4 {
		t.Fatalf("the sessions share %d buckets; want them spread over the slots", len(slots))
	}
	gone := e.createSession(a.APIKey, map[string]any{"user_id": "gone"})
	e.do(req{method: "DELETE", path: "/v1/sessions/" + gone.Session.ID, token: a.APIKey})
	items = append(items, map[string]any{"token": gone.Token}, map[string]any{"token": "v1.k_aaaaaaaaaaaaaaaa.aa.bm9uY2U.bWFj"})

	got := e.verifyBatch(a.APIKey, items...).results(t)
	if len(got) != len(items) {
		t.Fatalf("%d results for %d items", len(got), len(items))
	}
	for i, item := range items {
		r := e.verify(a.APIKey, item["token"].(string), item)
		if want := answerOf(t, r.Status, r.Body); !reflect.DeepEqual(got[i], want) {
			t.Errorf("item %d: the batch answered %d %v, verify %d %v", i, got[i].Status, got[i].Body, want.Status, want.Body)
		}
	}
	if got[0].Status != http.StatusOK || got[len(got)-2].Status != http.StatusUnauthorized {
		t.Fatalf("results: %v", got)
	}
}

// TestRedisClusterCreateBatch creates, in one call, sessions whose keys
// hash to different slots (one part of the pipeline per master): each item
// is created, the items of one user in their order (under a cap of one,
// each evicts the one before it), and each session verifies but for the
// evicted ones.
func TestRedisClusterCreateBatch(t *testing.T) {
	e := newClusterEnv(t, "sd:clc")
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 1 })
	var items []map[string]any
	for i := range 12 {
		items = append(items, map[string]any{"user_id": "u" + strconv.Itoa(i)}, map[string]any{"user_id": "carol"})
	}
	items = append(items, map[string]any{})

	got := e.createBatch(a.APIKey, items...).results(t)
	if len(got) != len(items) {
		t.Fatalf("%d results for %d items", len(got), len(items))
	}
	slots := map[string]bool{}
	prev := ""
	for i, res := range got {
		if res.Status != http.StatusCreated {
			t.Fatalf("item %d: %d %v", i, res.Status, res.Body)
		}
		id := res.Body["session"].(map[string]any)["id"].(string)
		slots[id[1:3]] = true
		want, evicted := http.StatusOK, res.Body["evicted"].([]any)
		if items[i]["user_id"] == "carol" {
			if (prev == "" && len(evicted) != 0) || (prev != "" && (len(evicted) != 1 || evicted[0] != prev)) {
				t.Fatalf("carol's item %d evicted %v, want her item before it (%s)", i, evicted, prev)
			}
			if prev = id; i != len(items)-2 {
				want = http.StatusUnauthorized // evicted by her next item
			}
		}
		if r := e.verify(a.APIKey, res.Body["token"].(string), nil); r.Status != want {
			t.Errorf("item %d verifies %d, want %d", i, r.Status, want)
		}
	}
	if len(slots) < 4 {
		t.Fatalf("the sessions share %d buckets; want them spread over the slots", len(slots))
	}
}

// TestRedisClusterFailover kills the master that holds a user's sessions and
// checks that sessiond, through its production client, verifies and creates
// that user's sessions again within seconds of the replica's promotion (the
// trap in SECURITY.md: go-redis's default 60 s slot-map refresh). It shuts a
// node down, so scripts/test runs it last and alone, with
// SESSIOND_TEST_REDIS_CLUSTER_FAILOVER=1.
func TestRedisClusterFailover(t *testing.T) {
	if os.Getenv("SESSIOND_TEST_REDIS_CLUSTER_FAILOVER") != "1" {
		t.Skip("destructive: needs SESSIOND_TEST_REDIS_CLUSTER and SESSIOND_TEST_REDIS_CLUSTER_FAILOVER=1 (scripts/test)")
	}
	e := newClusterEnv(t, "sd:fo")
	a := e.createTenant("Acme")
	s := e.createSession(a.APIKey, map[string]any{"user_id": "alice"})

	// Find the master holding alice's slot, let it replicate, and stop it.
	ctx := t.Context()
	probe := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(os.Getenv("SESSIOND_TEST_REDIS_CLUSTER"), ",")})
	defer probe.Close()
	key := e.cfg.RedisPrefix + ":{" + a.ID + ":" + s.Session.ID[1:3] + "}:s:" + s.Session.ID
	slot, err := probe.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	shards, err := probe.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	master := ""
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start <= slot && slot <= r.End {
				for _, n := range sh.Nodes {
					if n.Role == "master" && n.Health == "online" {
						master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
					}
				}
			}
		}
	}
	if master == "" {
		t.Fatalf("no online master serves slot %d", slot)
	}
	node := redis.NewClient(&redis.Options{Addr: master})
	defer node.Close()
	if n, err := node.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n < 1 {
		t.Fatalf("the session did not reach a replica: %d %v", n, err)
	}
	_ = node.Do(ctx, "SHUTDOWN", "NOSAVE").Err() // the connection drops: no reply
	down := time.Now()

	var verified, created time.Duration
	deadline := down.Add(30 * time.Second)
	for time.Now().Before(deadline) && (verified == 0 || created == 0) {
		if verified == 0 && e.verify(a.APIKey, s.Token, nil).Status == http.StatusOK {
			verified = time.Since(down)
		}
		if created == 0 && e.do(req{method: "POST", path: "/v1/sessions", token: a.APIKey, body: map[string]any{"user_id": "alice"}}).Status == http.StatusCreated {
			created = time.Since(down)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("after the master of alice's slot stopped: verify works again after %v, create after %v", verified, created)
	if verified == 0 || created == 0 || created > 15*time.Second {
		t.Fatalf("sessiond did not recover from the failover in time (verify %v, create %v)", verified, created)
	}
}

// newClusterEnv starts sessiond on the Redis Cluster that scripts/test
// starts (SESSIOND_TEST_REDIS_CLUSTER: the seed nodes), configured as in
// production (REDIS_CLUSTER=true, more seeds as addr= parameters), under a
// fresh prefix; without a cluster the test is skipped.
func newClusterEnv(t *testing.T, prefix string) *env {
	t.Helper()
	addrs := os.Getenv("SESSIOND_TEST_REDIS_CLUSTER")
	if addrs == "" {
		t.Skip("needs the Redis Cluster that scripts/test starts (SESSIOND_TEST_REDIS_CLUSTER)")
	}
	seeds := strings.Split(addrs, ",")
	url := "redis://" + seeds[0] + "?addr=" + strings.Join(seeds[1:], "&addr=")
	return newEnv(t, envOptions{RedisURL: url, Cluster: true, Prefix: prefix + secrets.Encode(secrets.Random(5))})
}
