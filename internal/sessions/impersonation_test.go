package sessions_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

func (e *env) impersonate(tenantID, userID, actorID string) sessions.Created {
	e.t.Helper()
	return e.create(tenantID, sessions.CreateParams{UserID: userID, Actor: &sessions.Actor{Type: "support", ID: actorID}})
}

// A user has at most MaxActing live impersonated sessions: one more evicts
// the oldest of them, never one of the user's own; the set the cap reads
// stays that small, whatever the actors do.
func TestImpersonationsAreBoundedPerUserAndNeverEvictTheUsersOwn(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 1 })
	tid := snap.Tenant.ID
	own := e.create(tid, sessions.CreateParams{UserID: "alice"})
	var imps []sessions.Created
	for i := range sessions.MaxActing + 3 {
		e.clock.Advance(time.Second)
		c := e.impersonate(tid, "alice", "agent")
		imps = append(imps, c)
		if i < sessions.MaxActing && len(c.Evicted) != 0 {
			t.Fatalf("impersonation %d evicted %v", i, c.Evicted)
		}
		if i >= sessions.MaxActing && !slices.Equal(c.Evicted, []string{imps[i-sessions.MaxActing].Session.ID}) {
			t.Fatalf("impersonation %d evicted %v, want the oldest impersonation", i, c.Evicted)
		}
	}
	e.mustVerify(tid, own.Token)
	if n, _ := e.rdb.ZCard(e.ctx, e.prefix+":{"+tid+":"+string(imps[0].Session.ID[1:3])+"}:a:alice").Result(); n != int64(sessions.MaxActing) {
		t.Fatalf("the user's impersonation set holds %d entries, want %d", n, sessions.MaxActing)
	}

	// Log out everywhere ends them too; ?actor=any then finds none.
	if _, err := e.m.RevokeUser(e.ctx, tid, "alice", "", sessions.Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(imps[3:], own) {
		if _, err := e.verify(tid, c.Token); !fault.Is(err, fault.SessionInvalid) {
			t.Fatalf("after log out everywhere, %s: %v", c.Session.ID, err)
		}
	}
	if r, err := e.m.RevokeActing(e.ctx, tid, "alice", sessions.Meta{}); err != nil || r.Count != 0 {
		t.Fatalf("RevokeActing after log out everywhere = %+v, %v", r, err)
	}
}

// However many entries the user's impersonation set holds (here stale ones
// of sessions long gone), a create reads a bounded walk of them, and
// RevokeActing ends them all in bounded chunks.
func TestImpersonationSetWorkIsBoundedWhateverItHolds(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	first := e.impersonate(tid, "alice", "agent")
	ak := e.prefix + ":{" + tid + ":" + first.Session.ID[1:3] + "}:a:alice"
	const stale = 100
	for i := range stale {
		e.rdb.ZAdd(e.ctx, ak, redis.Z{Score: float64(i), Member: fmt.Sprintf("s%s_gone%03d", first.Session.ID[1:3], i)})
	}
	walk := int64(2 * sessions.MaxActing)
	e.impersonate(tid, "alice", "agent")
	if n, _ := e.rdb.ZCard(e.ctx, ak).Result(); n != 2+stale-walk {
		t.Fatalf("after a create the set holds %d entries, want %d: one walk of %d forgotten", n, 2+stale-walk, walk)
	}
	r, err := e.m.RevokeActing(e.ctx, tid, "alice", sessions.Meta{})
	if err != nil || r.Count != 2 {
		t.Fatalf("RevokeActing = %+v, %v; want the two live impersonations", r, err)
	}
	if n, _ := e.rdb.ZCard(e.ctx, ak).Result(); n != 0 {
		t.Fatalf("after RevokeActing the set holds %d entries", n)
	}
	if _, err := e.verify(tid, first.Token); !fault.Is(err, fault.SessionInvalid) {
		t.Fatalf("the first impersonation after RevokeActing: %v", err)
	}
}
