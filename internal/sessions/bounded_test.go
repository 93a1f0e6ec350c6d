package sessions_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// Bounded work: what one user or tenant holds never makes one Redis script
// do more than a bounded amount of work. Each test runs on a private Redis
// and counts the commands Redis ran, scripts' own commands included (INFO
// commandstats), so no timing is involved.

// capWalk is the number of a user's oldest sessions the cap check may read
// (CAP_WALK in common.lua); a few more GETs are the O(1) ones (the
// revocation marker).
const capWalk = 128

// fillUser creates n sessions for userID, a millisecond apart, and returns
// them in order of creation.
func (e *env) fillUser(tid, userID string, n int) []sessions.Created {
	e.t.Helper()
	out := make([]sessions.Created, n)
	for i := range out {
		out[i] = e.create(tid, sessions.CreateParams{UserID: userID})
		e.clock.Advance(time.Millisecond)
	}
	return out
}

func TestCapCheckReadsABoundedNumberOfSessions(t *testing.T) {
	rdb := privateRedis(t)
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 0 }).Tenant.ID
	const n = 5000
	all := e.fillUser(tid, "big", n)
	setCap := func(max int, on tenants.OnLimit) {
		e.tenants.update(tid, func(s *tenants.Snapshot) { s.Policy.MaxSessionsPerUser = max; s.Policy.OnLimit = on })
	}
	gets := func(name string, most int64, f func()) {
		t.Helper()
		if got := callsDuring(t, rdb, f)["get"]; got > most {
			t.Errorf("%s: Redis ran %d GETs, want at most %d", name, got, most)
		}
	}

	setCap(10000, tenants.EvictOldest)
	gets("under a cap of 10,000", 4, func() {
		if c := e.create(tid, sessions.CreateParams{UserID: "big"}); len(c.Evicted) != 0 {
			t.Fatalf("evicted %v under the cap", c.Evicted)
		}
	})
	setCap(0, tenants.EvictOldest)
	gets("unlimited", 4, func() { e.create(tid, sessions.CreateParams{UserID: "big"}) })

	// The user now holds n+2 live sessions: at a cap of n+2, one more is
	// refused (reject) or evicts exactly the oldest (evict_oldest).
	setCap(n+2, tenants.Reject)
	gets("at the cap, reject", capWalk+4, func() {
		_, err := e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "big"}, sessions.Meta{})
		wantCode(t, err, fault.SessionLimitReached)
	})
	setCap(n+2, tenants.EvictOldest)
	gets("at the cap, evict_oldest", capWalk+4, func() {
		if c := e.create(tid, sessions.CreateParams{UserID: "big"}); !slices.Equal(c.Evicted, []string{all[0].Session.ID}) {
			t.Fatalf("evicted %v, want the oldest %s", c.Evicted, all[0].Session.ID)
		}
	})
	gets("regenerate at the cap (the old session makes room)", capWalk+4, func() {
		r, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: all[10].Token, Reauthenticated: true}, sessions.Meta{})
		if err != nil || len(r.Evicted) != 0 {
			t.Fatalf("regenerate: evicted %v, %v", r.Evicted, err)
		}
	})
	// Dead sessions among the oldest make room instead of a live one.
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Policy.IdleTimeout = 60 })
	e.clock.Advance(30 * time.Second)
	for _, c := range all[n-3:] { // these three stay live...
		e.mustVerify(tid, c.Token)
	}
	e.clock.Advance(31 * time.Second) // ...every other session is now idle-dead
	// Under a cap of 4 there is room, but the dead entries lie before the
	// live ones: each refused attempt forgets at most capWalk of them, so the
	// attempts succeed after at most n/capWalk + 1, each as bounded.
	setCap(4, tenants.Reject)
	for attempt := 1; ; attempt++ {
		var err error
		gets(fmt.Sprint("at a cap of 4, attempt ", attempt), capWalk+4, func() {
			_, err = e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "big"}, sessions.Meta{})
		})
		if err == nil {
			break
		}
		wantCode(t, err, fault.SessionLimitReached)
		if attempt > n/capWalk+1 {
			t.Fatalf("still refused after %d attempts", attempt)
		}
	}
	t.Logf("slowest script call: %v (SLOWLOG of the private Redis)", slowestScript(t, rdb))
}

// heldChunks is the Redis store with the background deletion of a bulk
// revocation held until release is closed, so a test can see the sessions
// ended while they are still in Redis. It records each chunk's size.
type heldChunks struct {
	sessions.Store
	release chan struct{}
	mu      sync.Mutex
	chunks  []int64
}

func (h *heldChunks) RevokeUserChunk(ctx context.Context, c sessions.RevokeChunkCall) (sessions.RevokeChunkResult, error) {
	<-h.release
	res, err := h.Store.RevokeUserChunk(ctx, c)
	h.mu.Lock()
	h.chunks = append(h.chunks, res.Deleted)
	h.mu.Unlock()
	return res, err
}

func TestLogOutOtherDevicesEndsThemAtOnceAndDeletesInChunks(t *testing.T) {
	rdb := privateRedis(t)
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 0 }).Tenant.ID
	held := &heldChunks{Store: redisstore.New(rdb, redisstore.Options{Prefix: e.prefix}), release: make(chan struct{})}
	evs := &testkit.Events{}
	m := sessions.NewManager(held, e.tenants, sessions.Options{Now: e.clock.Now, Events: evs})
	const n = 5001
	all := e.fillUser(tid, "big", n)
	keep := all[n/2]

	var res sessions.Revoked
	calls := callsDuring(t, rdb, func() {
		var err error
		if res, err = m.RevokeUser(e.ctx, tid, "big", keep.Session.ID, sessions.Meta{}); err != nil {
			t.Fatal(err)
		}
	})
	if res.Count != n-1 || len(res.IDs) != sessions.RevokeItemised || res.IDs[0] != all[0].Session.ID {
		t.Fatalf("revoked %d, listed %d (first %s)", res.Count, len(res.IDs), res.IDs[0])
	}
	if calls["evalsha"] != 1 || calls["get"] > sessions.RevokeItemised+4 {
		t.Fatalf("the call ran %d scripts and %d GETs, want 1 and at most %d", calls["evalsha"], calls["get"], sessions.RevokeItemised+4)
	}
	base := e.prefix + ":{" + tid + ":" + all[0].Session.ID[1:3] + "}:"
	if left := rdb.ZCard(e.ctx, base+"u:big").Val(); left < n-sessions.RevokeItemised {
		t.Fatalf("%d sessions left in Redis: the deletion was not deferred", left)
	}

	// Created in the same millisecond, after the call: not affected.
	fresh := e.create(tid, sessions.CreateParams{UserID: "big"})
	e.mustVerify(tid, fresh.Token)
	e.mustVerify(tid, keep.Token)
	// A sample of the others (a refused verify deletes its session: the
	// rest is left for the background deletion).
	for i, c := range all {
		if i%97 == 0 && c.Session.ID != keep.Session.ID {
			_, err := m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token}, sessions.Meta{})
			wantCode(t, err, fault.SessionInvalid)
		}
	}
	other := all[n-1] // never read by the call: ended by the marker alone
	_, err := m.Get(e.ctx, tid, other.Session.ID)
	wantCode(t, err, fault.NotFound)
	_, err = m.PatchData(e.ctx, tid, other.Session.ID, []byte(`{"a":1}`), nil, sessions.Meta{})
	wantCode(t, err, fault.NotFound)
	wantCode(t, m.Revoke(e.ctx, tid, other.Session.ID, sessions.Meta{}), fault.NotFound)
	_, err = m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: all[n-2].Token, Reauthenticated: true}, sessions.Meta{})
	wantCode(t, err, fault.SessionInvalid)
	if listed := walkUser(t, m, tid, "big", 50); !slices.Equal(listed, []string{keep.Session.ID, fresh.Session.ID}) {
		t.Fatalf("listed %v, want the kept and the new session", listed)
	}

	if got := evs.OfType(events.SessionRevoked); len(got) != sessions.RevokeItemised {
		t.Fatalf("%d session.revoked events, want %d", len(got), sessions.RevokeItemised)
	}
	if got := evs.OfType(events.OtherDevicesLoggedOut); len(got) != 1 || got[0].Detail["count"] != fmt.Sprint(n-1) ||
		got[0].Detail["not_itemised"] != fmt.Sprint(n-1-sessions.RevokeItemised) {
		t.Fatalf("summary events %+v", got)
	}

	close(held.release)
	m.Wait()
	var total int64
	for _, c := range held.chunks {
		if c > 250 {
			t.Fatalf("a chunk deleted %d sessions", c)
		}
		total += c
	}
	if total < n-1-sessions.RevokeItemised-n/97-3 || len(held.chunks) < 9 {
		t.Fatalf("chunks %v deleted %d", held.chunks, total)
	}
	for _, c := range all {
		if c.Session.ID != keep.Session.ID {
			_, err := m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token}, sessions.Meta{})
			wantCode(t, err, fault.SessionInvalid)
		}
	}
	if keys := e.tenantKeys(tid); len(keys) != 4 { // two sessions, the user's index, the bucket index
		t.Fatalf("keys left: %d", len(keys))
	}
	if got, _ := m.Count(e.ctx, tid); got != 2 {
		t.Fatalf("Count %d, want 2", got)
	}

	// Everywhere, in the background of the real engine.
	more := e.fillUser(tid, "big", 1200)
	everywhere, err := e.m.RevokeUser(e.ctx, tid, "big", "", sessions.Meta{})
	if err != nil || everywhere.Count != 1202 {
		t.Fatalf("revoke everywhere: %+v %v", everywhere.Count, err)
	}
	for _, c := range append(more, keep, fresh) {
		_, err := e.verify(tid, c.Token)
		wantCode(t, err, fault.SessionInvalid)
	}
	e.m.Wait()
	if keys := e.tenantKeys(tid); len(keys) != 0 {
		t.Fatalf("keys left: %v", keys)
	}
	t.Logf("slowest script call: %v (SLOWLOG of the private Redis)", slowestScript(t, rdb))
}

// walkUser lists a user's sessions page by page to the end.
func walkUser(t *testing.T, m *sessions.Manager, tid, userID string, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := m.List(context.Background(), tid, userID, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit || pages > 10000 {
			t.Fatalf("page of %d after %d pages", len(page), pages)
		}
		ids = append(ids, idsOf(page)...)
		if next == "" {
			return ids
		}
		cursor = next
	}
}

func TestIdleDeadSessionsAreNeitherCountedNorWalkedOver(t *testing.T) {
	rdb := privateRedis(t)
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant(func(p *tenants.Policy) {
		p.IdleTimeout = 1
		p.AbsoluteTimeout = 400 * 24 * 3600
		p.MaxSessionsPerUser = 0
	}).Tenant.ID
	for range 300 {
		e.create(tid, sessions.CreateParams{})
	}
	e.fillUser(tid, "idle", 300)
	if got, _ := e.m.Count(e.ctx, tid); got < 1 {
		t.Fatalf("Count %d before", got)
	}
	e.clock.Advance(2 * time.Second)
	if got, err := e.m.Count(e.ctx, tid); err != nil || got != 0 {
		t.Fatalf("Count %d (%v) after every session ended idle, want 0", got, err)
	}

	const limit = 10
	for _, userID := range []string{"", "idle"} {
		var page []sessions.Session
		var next string
		calls := callsDuring(t, rdb, func() {
			var err error
			if page, next, err = e.m.List(e.ctx, tid, userID, "", limit); err != nil {
				t.Fatal(err)
			}
		})
		// Each entry examined costs two GETs: its session, its user's
		// revocation marker.
		if len(page) != 0 || calls["get"] > 2*4*limit {
			t.Fatalf("user %q: a page of %d, after %d GETs (at most %d)", userID, len(page), calls["get"], 2*4*limit)
		}
		if userID == "" && next != "" {
			t.Fatalf("the tenant walk did not end: %q", next)
		}
		if ids := walkUser(t, e.m, tid, userID, limit); len(ids) != 0 {
			t.Fatalf("user %q: listed %d dead sessions", userID, len(ids))
		}
	}
	// A session used again is live and listed.
	live := e.create(tid, sessions.CreateParams{})
	if got, _ := e.m.Count(e.ctx, tid); got != 1 {
		t.Fatalf("Count %d, want 1", got)
	}
	if page, _, _ := e.m.List(e.ctx, tid, "", "", 50); len(page) != 1 || page[0].ID != live.Session.ID {
		t.Fatalf("listed %v", idsOf(page))
	}
}

func TestPurgeBucketsDeletesInBoundedChunks(t *testing.T) {
	rdb := privateRedis(t)
	e := newEnvOn(t, rdb, testkit.NewClock())
	tid := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 0 }).Tenant.ID
	other := e.newTenant().Tenant.ID
	e.fillUser(tid, "big", 1000) // one bucket
	for i := range 20 {
		e.create(tid, sessions.CreateParams{UserID: fmt.Sprint("u", i)})
		e.create(other, sessions.CreateParams{})
	}
	otherKeys := len(e.tenantKeys(other))
	store := redisstore.New(rdb, redisstore.Options{Prefix: e.prefix})
	calls := callsDuring(t, rdb, func() {
		if err := store.PurgeBuckets(e.ctx, tid, 0, sessions.NumBuckets); err != nil {
			t.Fatal(err)
		}
	})
	// One script per bucket, and the big bucket's 1,000 sessions in chunks.
	if calls["evalsha"] < sessions.NumBuckets+7 {
		t.Fatalf("%d purge scripts for %d buckets: the big one was not chunked", calls["evalsha"], sessions.NumBuckets)
	}
	if keys := e.tenantKeys(tid); len(keys) != 0 {
		t.Fatalf("keys left: %d", len(keys))
	}
	if n := len(e.tenantKeys(other)); n != otherKeys {
		t.Fatalf("the other tenant's keys: %d → %d", otherKeys, n)
	}
	t.Logf("slowest script call: %v (SLOWLOG of the private Redis)", slowestScript(t, rdb))
}

// Verify keeps a used session's place in the bucket index current (its idle
// deadline), in its one round trip: it stays counted and listed.
func TestAUsedSessionStaysCountedAndListed(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60 }).Tenant.ID
	used := e.create(tid, sessions.CreateParams{UserID: "alice"})
	e.create(tid, sessions.CreateParams{UserID: "alice"})
	for range 3 {
		e.clock.Advance(50 * time.Second)
		e.mustVerify(tid, used.Token)
	}
	if got, err := e.m.Count(e.ctx, tid); err != nil || got != 1 {
		t.Fatalf("Count %d (%v), want 1", got, err)
	}
	if page, next, err := e.m.List(e.ctx, tid, "", "", 50); err != nil || next != "" || len(page) != 1 || page[0].ID != used.Session.ID {
		t.Fatalf("listed %v %q %v", idsOf(page), next, err)
	}
}
