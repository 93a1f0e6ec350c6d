package sessions_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

// A verify within the touch interval of the last use recorded writes
// nothing (last seen and the idle deadline stay); past it, it writes and
// slides. The session may end at most that interval early, never late.
func TestVerifyWithinTouchIntervalWritesNothing(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	s := e.create(tid, sessions.CreateParams{UserID: "alice"})
	created := s.Session

	e.clock.Advance(sessions.TouchInterval - time.Millisecond)
	v := e.mustVerify(tid, s.Token).Session
	if !v.LastSeenAt.Equal(created.LastSeenAt.Time) || !v.IdleExpiresAt.Equal(created.IdleExpiresAt.Time) {
		t.Fatalf("a verify within the touch interval wrote: last seen %v → %v, idle %v → %v",
			created.LastSeenAt, v.LastSeenAt, created.IdleExpiresAt, v.IdleExpiresAt)
	}
	e.clock.Advance(time.Millisecond)
	v = e.mustVerify(tid, s.Token).Session
	if !v.LastSeenAt.Equal(e.clock.Now()) || !v.IdleExpiresAt.Equal(e.clock.Now().Add(30*time.Minute)) {
		t.Fatalf("a verify past the touch interval: last seen %v, idle %v", v.LastSeenAt, v.IdleExpiresAt)
	}
	got, err := e.m.Get(e.ctx, tid, s.Session.ID)
	if err != nil || !got.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("stored last seen %v, %v", got.LastSeenAt, err)
	}
}

// The interval is at most a tenth of the idle timeout, so a short idle
// timeout keeps its precision.
func TestTouchIntervalShrinksWithIdleTimeout(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 20 }).Tenant.ID
	s := e.create(tid, sessions.CreateParams{})
	e.clock.Advance(2 * time.Second) // a tenth of 20 s
	if v := e.mustVerify(tid, s.Token).Session; !v.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("last seen %v after 2 s of a 20 s idle timeout", v.LastSeenAt)
	}
}

// A tightened policy applies at the next verify even within the interval.
func TestTouchIntervalKeepsATightenedPolicy(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	s := e.create(tid, sessions.CreateParams{})
	e.tenants.update(tid, func(snap *tenants.Snapshot) { snap.Policy.IdleTimeout = 60 })
	e.clock.Advance(time.Second)
	v := e.mustVerify(tid, s.Token).Session
	want := e.clock.Now().Add(60 * time.Second)
	if !v.IdleExpiresAt.Equal(want) {
		t.Fatalf("idle deadline %v after tightening to 60 s; want %v", v.IdleExpiresAt, want)
	}
	got, _ := e.m.Get(e.ctx, tid, s.Session.ID)
	if !got.IdleExpiresAt.Equal(want) {
		t.Fatalf("stored idle deadline %v; want %v (written though within the touch interval)", got.IdleExpiresAt, want)
	}
}
