package sessions_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// A batch's items that reach the store share one round trip, whatever
// their buckets (on a Cluster: their slots); items refused before the store
// cost none, and a batch of them alone makes no round trip at all.
func TestVerifyBatchMakesOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	var items []sessions.VerifyParams
	buckets := map[string]bool{}
	for i := range 20 {
		c := e.create(tid, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i)})
		buckets[c.Session.ID[1:3]] = true
		items = append(items, sessions.VerifyParams{Token: c.Token})
	}
	if len(buckets) < 5 {
		t.Fatalf("the sessions share %d buckets; want them spread", len(buckets))
	}
	forged := sessions.VerifyParams{Token: "v1.k_aaaaaaaaaaaaaaaa.aa.bm9uY2U.bWFj"}
	items = append(items[:10], append([]sessions.VerifyParams{forged}, items[10:]...)...)

	warmPipelines(t, e, tid)
	var out []sessions.VerifyOutcome
	var err error
	n, cmds := e.count.trips(func() { out, err = e.m.VerifyBatch(e.ctx, tid, items, sessions.Meta{IP: "192.0.2.1"}) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("a batch of %d items made %d round trips (%v), want 1", len(items), n, cmds)
	}
	for i, o := range out {
		if i == 10 {
			wantCode(t, o.Err, fault.SessionInvalid)
			continue
		}
		if o.Err != nil || o.Verified.Session.ID == "" {
			t.Fatalf("item %d: %v", i, o.Err)
		}
	}

	n, _ = e.count.trips(func() {
		out, err = e.m.VerifyBatch(e.ctx, tid, []sessions.VerifyParams{forged, forged}, sessions.Meta{IP: "192.0.2.1"})
	})
	if err != nil || n != 0 {
		t.Fatalf("a batch of forgeries: %d round trips, %v", n, err)
	}
	for _, o := range out {
		wantCode(t, o.Err, fault.SessionInvalid)
	}
}

// A batch sent to a Redis that lost its scripts (restarted, SCRIPT FLUSH,
// or on a Cluster one master of several) is answered in full: the calls
// answered NOSCRIPT run again with EVAL, and only they, so no call runs
// twice. An expired session is reported expired once and then forgotten:
// a second run would answer session_invalid.
func TestVerifyBatchRunsEachCallOnceWhenScriptsAreGone(t *testing.T) {
	var rdb redis.UniversalClient
	if testkit.RedisClusterAddrs() != nil {
		rdb = testkit.Redis(t)
	} else {
		rdb = privateRedis(t) // flushing the shared Redis's scripts would disturb other packages' tests
	}
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant().Tenant.ID
	var items []sessions.VerifyParams
	for i := range 30 {
		c := e.create(tid, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i)})
		items = append(items, sessions.VerifyParams{Token: c.Token})
	}
	e.clock.Advance(time.Duration(e.tenantsPolicyIdle(tid)+1) * time.Second)
	warmPipelines(t, e, tid)
	flushOneMaster(t, rdb)
	t.Cleanup(func() { _ = e.m.LoadScripts(context.Background()) }) // for the tests after this one

	var out []sessions.VerifyOutcome
	var err error
	n, cmds := e.count.trips(func() { out, err = e.m.VerifyBatch(e.ctx, tid, items, sessions.Meta{}) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d round trips (%v), want 2: the pipeline, then the calls Redis did not know the script of", n, cmds)
	}
	for i, o := range out {
		if !fault.Is(o.Err, fault.SessionExpiredIdle) {
			t.Fatalf("item %d: %v, want session_expired_idle (reported once)", i, o.Err)
		}
	}
	n, _ = e.count.trips(func() { out, err = e.m.VerifyBatch(e.ctx, tid, items, sessions.Meta{}) })
	if err != nil || n != 1 {
		t.Fatalf("the next batch: %d round trips, %v; want 1 (the scripts are known again)", n, err)
	}
	for _, o := range out {
		wantCode(t, o.Err, fault.SessionInvalid)
	}
}

// warmPipelines opens the connections of the client's pipelines (go-redis
// opens its pipeline pool's connections at the first pipeline, each with
// a HELLO), so that counted round trips are the batch's own.
func warmPipelines(t *testing.T, e *env, tenantID string) {
	t.Helper()
	c := e.create(tenantID, sessions.CreateParams{})
	if _, err := e.m.VerifyBatch(e.ctx, tenantID, []sessions.VerifyParams{{Token: c.Token}}, sessions.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// tenantsPolicyIdle is the tenant's idle timeout in seconds.
func (e *env) tenantsPolicyIdle(tenantID string) int {
	snap, err := e.tenants.Lookup(tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Policy.IdleTimeout
}

// flushOneMaster removes the scripts of one Redis master: the only one of
// a standalone Redis, the first one found of a Cluster.
func flushOneMaster(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		return
	}
	var once sync.Once
	err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		var err error
		once.Do(func() { err = node.ScriptFlush(ctx).Err() })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A batch of creates makes one round trip for the items that reach the
// store, whatever their buckets; items refused before the store (invalid)
// cost none, and a batch of them alone makes no round trip at all. Each
// item created records its session.created event and verifies.
func TestCreateBatchMakesOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	var items []sessions.CreateParams
	for i := range 20 {
		items = append(items, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i)})
	}
	invalid := sessions.CreateParams{UserID: "no user id"}
	items = append(items[:10], append([]sessions.CreateParams{invalid}, items[10:]...)...)

	warmPipelines(t, e, tid)
	e.events.Take()
	var out []sessions.CreateOutcome
	var err error
	n, cmds := e.count.trips(func() { out, err = e.m.CreateBatch(e.ctx, tid, items, sessions.Meta{IP: "192.0.2.1"}, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("a batch of %d items made %d round trips (%v), want 1", len(items), n, cmds)
	}
	buckets := map[string]bool{}
	for i, o := range out {
		if i == 10 {
			wantCode(t, o.Err, fault.InvalidRequest)
			continue
		}
		if o.Err != nil || o.Created.Session.UserID != items[i].UserID {
			t.Fatalf("item %d: %+v %v", i, o.Created.Session, o.Err)
		}
		buckets[o.Created.Session.ID[1:3]] = true
		e.mustVerify(tid, o.Created.Token)
	}
	if len(buckets) < 5 {
		t.Fatalf("the sessions share %d buckets; want them spread", len(buckets))
	}
	if got := len(e.events.OfType(events.SessionCreated)); got != 20 {
		t.Fatalf("%d session.created events, want 20", got)
	}

	n, _ = e.count.trips(func() {
		out, err = e.m.CreateBatch(e.ctx, tid, []sessions.CreateParams{invalid, invalid}, sessions.Meta{}, nil)
	})
	if err != nil || n != 0 {
		t.Fatalf("a batch of invalid items: %d round trips, %v", n, err)
	}
	for _, o := range out {
		wantCode(t, o.Err, fault.InvalidRequest)
	}
}

// The items of one user are applied in the items' order, each seeing the
// ones before it as a create made after theirs would: under a cap of one
// with evict_oldest each item evicts the one before it (with its
// session.evicted event), under reject the items after the first are
// refused. admit refuses items before their own checks, told how many
// items before them reached the store.
func TestCreateBatchAppliesOneUsersItemsInOrder(t *testing.T) {
	e := newEnv(t)
	evict := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser, p.OnLimit = 1, tenants.EvictOldest }).Tenant.ID
	reject := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser, p.OnLimit = 1, tenants.Reject }).Tenant.ID
	items := []sessions.CreateParams{{UserID: "carol"}, {}, {UserID: "carol"}, {UserID: "carol"}, {UserID: "carol"}}

	e.events.Take()
	out, err := e.m.CreateBatch(e.ctx, evict, items, sessions.Meta{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("item %d: %v", i, o.Err)
		}
		if items[i].UserID == "" {
			continue
		}
		want := []string{}
		if prev != "" {
			want = []string{prev}
		}
		if !slices.Equal(o.Created.Evicted, want) {
			t.Fatalf("item %d evicted %v, want %v (the item of carol before it)", i, o.Created.Evicted, want)
		}
		prev = o.Created.Session.ID
	}
	if _, err := e.verify(evict, out[3].Created.Token); !fault.Is(err, fault.SessionInvalid) {
		t.Fatalf("an evicted item's session verifies: %v", err)
	}
	e.mustVerify(evict, out[4].Created.Token)
	evicted := e.events.OfType(events.SessionEvicted)
	if len(evicted) != 3 {
		t.Fatalf("%d session.evicted events, want 3", len(evicted))
	}
	for i, ev := range evicted {
		if ev.SessionID != out[i+2].Created.Evicted[0] || ev.Detail["replaced_by"] != out[i+2].Created.Session.ID {
			t.Fatalf("session.evicted %d: %+v", i, ev)
		}
	}

	out, err = e.m.CreateBatch(e.ctx, reject, items, sessions.Meta{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if i < 2 {
			if o.Err != nil {
				t.Fatalf("item %d: %v", i, o.Err)
			}
			continue
		}
		wantCode(t, o.Err, fault.SessionLimitReached)
	}

	var told []int
	out, err = e.m.CreateBatch(e.ctx, evict, []sessions.CreateParams{{}, {UserID: "no user id"}, {}, {}}, sessions.Meta{}, func(started int) error {
		told = append(told, started)
		if started == 2 {
			return fault.New(fault.SessionLimitReached, "full")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(told, []int{0, 1, 1, 2}) || out[0].Err != nil || out[2].Err != nil {
		t.Fatalf("admit was told %v; outcomes %+v", told, out)
	}
	wantCode(t, out[1].Err, fault.InvalidRequest)
	wantCode(t, out[3].Err, fault.SessionLimitReached)
}

// A batch of creates sent to a Redis that lost its scripts is created in
// full: only the calls answered NOSCRIPT run again, so none runs twice (a
// second run of a create would find its own session: an id collision).
func TestCreateBatchRunsEachCallOnceWhenScriptsAreGone(t *testing.T) {
	var rdb redis.UniversalClient
	if testkit.RedisClusterAddrs() != nil {
		rdb = testkit.Redis(t)
	} else {
		rdb = privateRedis(t)
	}
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant().Tenant.ID
	var items []sessions.CreateParams
	for i := range 30 {
		items = append(items, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i)})
	}
	warmPipelines(t, e, tid)
	flushOneMaster(t, rdb)
	t.Cleanup(func() { _ = e.m.LoadScripts(context.Background()) })

	var out []sessions.CreateOutcome
	var err error
	n, cmds := e.count.trips(func() { out, err = e.m.CreateBatch(e.ctx, tid, items, sessions.Meta{}, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d round trips (%v), want 2: the pipeline, then the calls Redis did not know the script of", n, cmds)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("item %d: %v", i, o.Err)
		}
		e.mustVerify(tid, o.Created.Token)
	}
}
