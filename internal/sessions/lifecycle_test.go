package sessions_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// Creating a session for a user is a login: auth_time is set, so an app
// needs one call, not create then regenerate.
func TestCreateForAUserIsALogin(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	if c.Session.AuthTime == nil || !c.Session.AuthTime.Equal(c.Session.CreatedAt.Time) {
		t.Fatalf("auth_time %v, want the creation time %v", c.Session.AuthTime, c.Session.CreatedAt)
	}
	if _, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token, MaxAuthAge: testkit.Ptr(60)}, sessions.Meta{}); err != nil {
		t.Fatalf("a fresh login needs no re-authentication: %v", err)
	}
	if a := e.create(tid, sessions.CreateParams{}); a.Session.AuthTime != nil {
		t.Fatalf("an anonymous session has auth_time %v", a.Session.AuthTime)
	}
}

// A login (regenerate that changes the user) starts a fresh lifetime; any
// other regenerate keeps the absolute deadline.
func TestLoginStartsAFreshLifetime(t *testing.T) {
	e := newEnv(t)
	const abs = 3600
	tid := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = abs; p.AbsoluteTimeout = abs }).Tenant.ID
	for name, c := range regenerations {
		t.Run(name, func(t *testing.T) {
			s := e.create(tid, c.create)
			e.clock.Advance(20 * time.Minute)
			r, err := e.m.Regenerate(e.ctx, tid, c.regen(s.Token), sessions.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			login := c.create.UserID == ""
			want := s.Session.ExpiresAt.Time
			if login {
				want = e.clock.Now().Add(abs * time.Second)
				if !r.Session.CreatedAt.Equal(e.clock.Now()) {
					t.Errorf("a login's created_at is %v, want now", r.Session.CreatedAt)
				}
			}
			if !r.Session.ExpiresAt.Equal(want) {
				t.Fatalf("expires_at %v, want %v", r.Session.ExpiresAt, want)
			}
			if got := e.keyExpiry(e.prefix + ":{" + tid + ":" + r.Session.ID[1:3] + "}:s:" + r.Session.ID); got.After(want) {
				t.Fatalf("the key outlives the deadline: %v > %v", got, want)
			}
			e.clock.Advance(time.Duration(abs)*time.Second - 20*time.Minute)
			_, err = e.verify(tid, r.Token)
			if login {
				if err != nil {
					t.Fatalf("a login 40 minutes before the old deadline ended at it: %v", err)
				}
			} else {
				wantCode(t, err, fault.SessionExpiredAbsolute)
			}
		})
	}
}

// Logout in one call: revoke by token, idempotent, and nothing for junk.
func TestRevokeToken(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	meta := sessions.Meta{IP: "192.0.2.1"}
	for i, tok := range []string{c.Token, c.Token, "", "junk", c.Token + "x"} {
		if err := e.m.RevokeToken(e.ctx, tid, tok, meta); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionInvalid)
	if list, _ := e.m.ListUser(e.ctx, tid, "alice"); len(list) != 0 {
		t.Fatalf("alice still lists %d sessions", len(list))
	}
	if got := e.events.OfType(events.SessionRevoked); len(got) != 1 || got[0].SessionID != c.Session.ID || got[0].Detail["reason"] != "logout" {
		t.Fatalf("session.revoked events: %+v", got)
	}
	if err := e.m.RevokeToken(e.ctx, "tn_unknown", c.Token, meta); !fault.Is(err, fault.Forbidden) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestUserIDsMadeOnlyOfDotsAreRefused(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant().Tenant.ID
	for _, id := range []string{".", "..", "...."} {
		_, err := e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: id}, sessions.Meta{})
		wantCode(t, err, fault.InvalidRequest)
		_, err = e.m.ListUser(e.ctx, tid, id)
		wantCode(t, err, fault.InvalidRequest)
		_, err = e.m.RevokeUser(e.ctx, tid, id, "", sessions.Meta{})
		wantCode(t, err, fault.InvalidRequest)
	}
	for _, id := range []string{".a", "a.", "a..b", "._"} {
		e.create(tid, sessions.CreateParams{UserID: id})
	}
}

// Reads use the deadlines verify would apply: after a policy is tightened,
// Get and the listings show the new deadlines, and drop what verify would
// reject.
func TestReadsAgreeWithVerifyAfterAPolicyChange(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 1800; p.AbsoluteTimeout = 28800 }).Tenant.ID
	old := e.create(tid, sessions.CreateParams{UserID: "alice"})
	e.clock.Advance(29 * time.Minute)
	e.mustVerify(tid, old.Token)
	e.clock.Advance(time.Minute)
	young := e.create(tid, sessions.CreateParams{UserID: "alice"})
	e.clock.Advance(10 * time.Minute)
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Policy.IdleTimeout = 900; s.Policy.AbsoluteTimeout = 2700 })

	// old: created 40 min ago, so past the new 45-min lifetime in 5 min;
	// young: last seen 10 min ago, so idle deadline (15 min) in 5 min.
	g, err := e.m.Get(e.ctx, tid, young.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := young.Session.LastSeenAt.Add(15 * time.Minute); !g.IdleExpiresAt.Equal(want) || g.IdleTimeout != 900 {
		t.Fatalf("Get: idle deadline %v (timeout %d), want %v", g.IdleExpiresAt, g.IdleTimeout, want)
	}
	list, _, err := e.m.List(e.ctx, tid, "", "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("List: %v %v", list, err)
	}
	for _, s := range list {
		if s.ID == old.Session.ID && !s.ExpiresAt.Equal(old.Session.CreatedAt.Add(45*time.Minute)) {
			t.Fatalf("List shows the old absolute deadline %v", s.ExpiresAt)
		}
	}
	v := e.mustVerify(tid, young.Token)
	if !v.Session.ExpiresAt.Equal(g.ExpiresAt.Time) {
		t.Fatalf("verify's absolute deadline %v, Get's %v", v.Session.ExpiresAt, g.ExpiresAt)
	}

	e.clock.Advance(6 * time.Minute) // old is past its tightened absolute deadline
	if _, err := e.m.Get(e.ctx, tid, old.Session.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("Get of a session verify rejects: %v", err)
	}
	users, err := e.m.ListUser(e.ctx, tid, "alice")
	if err != nil || len(users) != 1 || users[0].ID != young.Session.ID {
		t.Fatalf("ListUser: %v %v", idsOf(users), err)
	}
	_, err = e.verify(tid, old.Token)
	wantCode(t, err, fault.SessionExpiredAbsolute)
}

// A user's listing is paginated and reads only a page's worth of entries.
func TestUserListingIsPaginated(t *testing.T) {
	e := newEnv(t)
	tid := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 0 }).Tenant.ID
	var want []string
	for i := range 7 {
		c := e.create(tid, sessions.CreateParams{UserID: "alice", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		want = append(want, c.Session.ID)
		if i%3 == 0 {
			e.clock.Advance(time.Millisecond) // some share a created_at, some do not
		}
	}
	// One in the middle dies: pages skip it.
	if err := e.m.Revoke(e.ctx, tid, want[3], sessions.Meta{}); err != nil {
		t.Fatal(err)
	}
	want = append(want[:3:3], want[4:]...)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the cursor does not advance")
		}
		page, next, err := e.m.List(e.ctx, tid, "alice", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		got = append(got, idsOf(page)...)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(sortedByCreation(want, got)) || len(got) != len(want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	_, _, err := e.m.List(e.ctx, tid, "bob", cursor, 2) // alice's cursor, bob's listing
	if cursor != "" && !fault.Is(err, fault.InvalidRequest) && err != nil {
		t.Fatalf("foreign cursor: %v", err)
	}
}

// sortedByCreation checks got holds exactly want's ids; listing order within
// one millisecond is by id, so it returns got when the sets match.
func sortedByCreation(want, got []string) []string {
	set := map[string]bool{}
	for _, id := range want {
		set[id] = true
	}
	for _, id := range got {
		if !set[id] {
			return want
		}
		delete(set, id)
	}
	if len(set) != 0 {
		return want
	}
	return got
}
