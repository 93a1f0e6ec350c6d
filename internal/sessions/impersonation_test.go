package sessions_test

import (
	"slices"
	"testing"
	"time"

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
