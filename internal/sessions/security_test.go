package sessions_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// Row 1: tokens come from crypto/rand, carry ≥ 256 bits, are unique and
// carry no tenant or user data.
func TestTokensAreUniqueRandomAndCarryNoIdentity(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	const n = 10000
	seen := make(map[string]bool, n)
	nonces := make(map[string]bool, n)
	for i := range n {
		user := fmt.Sprintf("user-%d@example.com", i%50)
		p := sessions.CreateParams{}
		if i%2 == 0 {
			p.UserID = user
		}
		c := e.create(snap.Tenant.ID, p)
		if seen[c.Token] {
			t.Fatalf("duplicate token after %d", i)
		}
		seen[c.Token] = true
		parts := strings.Split(c.Token, ".")
		if len(parts) != 5 || parts[0] != "v1" || parts[1] != snap.Keys[0].ID {
			t.Fatalf("token shape: %d parts", len(parts))
		}
		nonce, err := base64.RawURLEncoding.DecodeString(parts[3])
		if err != nil || len(nonce) < 32 {
			t.Fatalf("nonce: %d bytes, %v", len(nonce), err)
		}
		if nonces[parts[3]] {
			t.Fatal("duplicate nonce")
		}
		nonces[parts[3]] = true
		for _, s := range []string{snap.Tenant.ID, strings.TrimPrefix(snap.Tenant.ID, tenants.IDPrefix), user, "user-", "example"} {
			if strings.Contains(c.Token, s) {
				t.Fatalf("token contains %q", s)
			}
		}
	}
}

// Row 2: strict mode: a token sessiond never issued is rejected and adopts
// nothing.
func TestTokenNeverIssuedIsRejectedAndCreatesNothing(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	e.create(snap.Tenant.ID, sessions.CreateParams{UserID: "alice"})
	before := e.keys()
	key := snap.Keys[0]
	made := map[string]string{
		"well signed, never issued": signedToken(key, "ab", secrets.Random(32)),
		"random mac":                "v1." + key.ID + ".ab." + base64.RawURLEncoding.EncodeToString(secrets.Random(32)) + "." + base64.RawURLEncoding.EncodeToString(secrets.Random(32)),
		"random string":             base64.RawURLEncoding.EncodeToString(secrets.Random(64)),
		"empty":                     "",
	}
	for name, tok := range made {
		t.Run(name, func(t *testing.T) {
			_, err := e.verify(snap.Tenant.ID, tok)
			wantCode(t, err, fault.SessionInvalid)
			_, err = e.m.Regenerate(e.ctx, snap.Tenant.ID, sessions.RegenerateParams{Token: tok, UserID: testkit.Ptr("mallory")}, sessions.Meta{})
			wantCode(t, err, fault.SessionInvalid)
		})
	}
	after := e.keys()
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Fatalf("keys changed: before %v, after %v", before, after)
	}
}

// Row 3: a tampered token is rejected before any store lookup.
func TestTamperedTokenIsRejectedWithZeroRedisCommands(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	c := e.create(snap.Tenant.ID, sessions.CreateParams{UserID: "alice"})
	mac := strings.LastIndexByte(c.Token, '.') + 1
	flip := func(tok string, i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := e.newTenant()
	cases := map[string]string{
		"mac first byte":  flip(c.Token, mac),
		"mac middle byte": flip(c.Token, mac+20),
		"mac last byte":   flip(c.Token, len(c.Token)-1),
		"nonce byte":      flip(c.Token, mac-10),
		"unknown kid":     strings.Replace(c.Token, snap.Keys[0].ID, other.Keys[0].ID, 1),
		"truncated":       c.Token[:len(c.Token)-1],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			n, cmds := e.count.trips(func() {
				_, err := e.verify(snap.Tenant.ID, tok)
				wantCode(t, err, fault.SessionInvalid)
			})
			if n != 0 {
				t.Fatalf("%d Redis round trips (%v), want 0", n, cmds)
			}
		})
	}
	e.mustVerify(snap.Tenant.ID, c.Token)
}

// Row 4: regenerate issues a new token and kills the old one at once;
// concurrent regenerates of one token: exactly one wins.
func TestRegenerateKillsOldTokenAndExactlyOneConcurrentWins(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	a := e.create(tid, sessions.CreateParams{UserID: "alice", Data: json.RawMessage(`{"cart":3}`)})
	e.clock.Advance(time.Minute)
	b, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: a.Token}, sessions.Meta{})
	if err != nil {
		t.Fatalf("Regenerate: %v", err)
	}
	if b.Token == a.Token || b.Session.ID == a.Session.ID || b.CSRFToken == a.CSRFToken {
		t.Fatal("regenerate kept the token, id or CSRF token")
	}
	if !b.Session.CreatedAt.Equal(a.Session.CreatedAt.Time) || !b.Session.ExpiresAt.Equal(a.Session.ExpiresAt.Time) {
		t.Fatal("regenerate changed created_at or the absolute deadline")
	}
	if string(b.Session.Data) != `{"cart":3}` || b.Session.UserID != "alice" {
		t.Fatalf("data or user not moved: %s %q", b.Session.Data, b.Session.UserID)
	}
	_, err = e.verify(tid, a.Token)
	wantCode(t, err, fault.SessionInvalid)
	e.mustVerify(tid, b.Token)

	for _, tc := range []struct {
		name string
		user *string
	}{{"in the same bucket", nil}, {"across buckets (login)", testkit.Ptr("bob")}} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.create(tid, sessions.CreateParams{})
			const n = 20
			var wg sync.WaitGroup
			results := make([]error, n)
			tokens := make([]string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: c.Token, UserID: tc.user}, sessions.Meta{IP: fmt.Sprintf("198.51.100.%d", i)})
					results[i], tokens[i] = err, r.Token
				}()
			}
			wg.Wait()
			wins := 0
			for i, err := range results {
				if err == nil {
					wins++
					e.mustVerify(tid, tokens[i])
				} else {
					wantCode(t, err, fault.SessionInvalid)
				}
			}
			if wins != 1 {
				t.Fatalf("%d regenerates won, want 1", wins)
			}
		})
	}
}

// Row 5: the idle timeout is enforced server side and activity slides it.
func TestIdleTimeoutExpiresAndVerifySlidesIt(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60; p.AbsoluteTimeout = 3600 })
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	for range 5 {
		e.clock.Advance(50 * time.Second)
		v := e.mustVerify(tid, c.Token)
		if want := e.clock.Now().Add(60 * time.Second); !v.Session.IdleExpiresAt.Equal(want) {
			t.Fatalf("idle deadline %v, want %v", v.Session.IdleExpiresAt, want)
		}
	}
	e.clock.Advance(61 * time.Second)
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionExpiredIdle)
	if got := e.events.OfType(events.SessionExpired); len(got) != 1 || got[0].SessionID != c.Session.ID || got[0].Detail["reason"] != "idle" {
		t.Fatalf("session.expired events: %+v", got)
	}
	if rej := e.events.OfType(events.VerifyRejected); len(rej) != 1 || rej[0].Detail["reason"] != "expired_idle" {
		t.Fatalf("verify.rejected events: %+v", rej)
	}
	if keys := e.tenantKeys(tid); len(keys) != 0 {
		t.Fatalf("expired session left keys: %v", keys)
	}
	_, err = e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionInvalid)
}

// Row 5 with a non-rolling policy: verify does not slide the idle deadline.
func TestNonRollingPolicyDoesNotSlide(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60; p.Rolling = false })
	c := e.create(snap.Tenant.ID, sessions.CreateParams{})
	e.clock.Advance(40 * time.Second)
	v := e.mustVerify(snap.Tenant.ID, c.Token)
	if !v.Session.IdleExpiresAt.Equal(c.Session.IdleExpiresAt.Time) || !v.Session.LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("non-rolling verify: idle %v (was %v), last seen %v", v.Session.IdleExpiresAt, c.Session.IdleExpiresAt, v.Session.LastSeenAt)
	}
	e.clock.Advance(21 * time.Second)
	_, err := e.verify(snap.Tenant.ID, c.Token)
	wantCode(t, err, fault.SessionExpiredIdle)
}

// Row 6: the absolute lifetime is never extended, and the key's Redis expiry
// never outlives it.
func TestAbsoluteTimeoutIsNeverExtended(t *testing.T) {
	e := newEnv(t)
	const idle, abs = 600, 3600
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = idle; p.AbsoluteTimeout = abs })
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	deadline := c.Session.CreatedAt.Add(abs * time.Second)
	if !c.Session.ExpiresAt.Equal(deadline) {
		t.Fatalf("expires_at %v, want %v", c.Session.ExpiresAt, deadline)
	}
	key := e.prefix + ":{" + tid + ":" + c.Session.ID[1:3] + "}:s:" + c.Session.ID
	checkTTL := func() {
		t.Helper()
		got := e.keyExpiry(key)
		if got.After(deadline) {
			t.Fatalf("key expires at %v, after the absolute deadline %v", got, deadline)
		}
	}
	checkTTL()
	token := c.Token
	for elapsed := idle / 2; elapsed < abs; elapsed += idle / 2 {
		e.clock.Advance(idle / 2 * time.Second)
		v := e.mustVerify(tid, token)
		if v.Session.IdleExpiresAt.After(deadline) || !v.Session.ExpiresAt.Equal(deadline) {
			t.Fatalf("at +%ds: idle deadline %v, expires %v, absolute %v", elapsed, v.Session.IdleExpiresAt, v.Session.ExpiresAt, deadline)
		}
		checkTTL()
		if elapsed == abs/2 {
			r, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: token, Reauthenticated: true}, sessions.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Session.ExpiresAt.Equal(deadline) {
				t.Fatalf("regenerate moved the absolute deadline to %v", r.Session.ExpiresAt)
			}
			token = r.Token
			key = e.prefix + ":{" + tid + ":" + r.Session.ID[1:3] + "}:s:" + r.Session.ID
			checkTTL()
		}
	}
	e.clock.Advance(idle / 2 * time.Second) // now created + absolute
	if !e.clock.Now().Equal(deadline) {
		t.Fatalf("clock %v, deadline %v", e.clock.Now(), deadline)
	}
	_, err := e.verify(tid, token)
	wantCode(t, err, fault.SessionExpiredAbsolute)
}

// When Redis itself has expired a session's key (its expiry is never past
// the absolute deadline), verify still tells an expired session from a
// revoked or made-up one, from the bucket index. Redis drops a key at its
// absolute deadline when that comes within the grace after its idle
// deadline (the tenant abs below), else the grace after its idle deadline
// (tid).
func TestVerifyAfterRedisExpiredTheKey(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 60; p.AbsoluteTimeout = 3600 })
	tid := snap.Tenant.ID
	abs := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 3000; p.AbsoluteTimeout = 3600 }).Tenant.ID
	sessionKey := func(tid, id string) string { return e.prefix + ":{" + tid + ":" + id[1:3] + "}:s:" + id }
	for _, c := range []struct {
		name    string
		tenant  string
		advance time.Duration
		code    fault.Code
	}{
		{"past the absolute deadline", abs, time.Hour, fault.SessionExpiredAbsolute},
		{"past the idle deadline and its grace", tid, 11 * time.Minute, fault.SessionExpiredIdle},
	} {
		t.Run(c.name, func(t *testing.T) {
			tid := c.tenant
			s := e.create(tid, sessions.CreateParams{UserID: "alice"})
			idx := e.prefix + ":{" + tid + ":" + s.Session.ID[1:3] + "}:idx"
			// Less a second: real time passes between the script and PTTL.
			if at := e.keyExpiry(idx); at.Before(s.Session.ExpiresAt.Add(sessions.ExpiryGrace - time.Second)) {
				t.Fatalf("the bucket index expires at %v, before the absolute deadline plus grace", at)
			}
			e.clock.Advance(c.advance)
			e.rdb.Del(e.ctx, sessionKey(tid, s.Session.ID)) // what Redis's own expiry does
			_, err := e.verify(tid, s.Token)
			wantCode(t, err, c.code)
			_, err = e.verify(tid, s.Token)
			wantCode(t, err, fault.SessionInvalid) // reported once, then forgotten
		})
	}
	t.Run("a create in the same bucket meanwhile does not erase the expiry", func(t *testing.T) {
		s := e.create(abs, sessions.CreateParams{UserID: "alice"})
		e.clock.Advance(time.Hour)
		e.rdb.Del(e.ctx, sessionKey(abs, s.Session.ID))
		e.create(abs, sessions.CreateParams{UserID: "alice"}) // same user, same bucket
		_, err := e.verify(abs, s.Token)
		wantCode(t, err, fault.SessionExpiredAbsolute)
	})
	t.Run("an expiry is reported until twice the grace after the idle deadline, then forgotten", func(t *testing.T) {
		s := e.create(tid, sessions.CreateParams{UserID: "alice"})
		e.clock.Advance(time.Minute + 2*sessions.ExpiryGrace + time.Second)
		e.rdb.Del(e.ctx, sessionKey(tid, s.Session.ID))
		_, err := e.verify(tid, s.Token)
		wantCode(t, err, fault.SessionInvalid)
	})
	t.Run("regenerate reports the expiry too, in its bucket and across buckets", func(t *testing.T) {
		for name, c := range regenerations {
			s := e.create(abs, c.create)
			e.clock.Advance(time.Hour)
			e.rdb.Del(e.ctx, sessionKey(abs, s.Session.ID))
			_, err := e.m.Regenerate(e.ctx, abs, c.regen(s.Token), sessions.Meta{})
			if !fault.Is(err, fault.SessionExpiredAbsolute) {
				t.Errorf("%s: %v, want session_expired_absolute", name, err)
			}
		}
	})
	t.Run("a revoked session stays invalid, not expired", func(t *testing.T) {
		s := e.create(tid, sessions.CreateParams{UserID: "alice"})
		if err := e.m.Revoke(e.ctx, tid, s.Session.ID, sessions.Meta{}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		_, err := e.verify(tid, s.Token)
		wantCode(t, err, fault.SessionInvalid)
	})
}

// Row 7: revocation is immediate and complete.
func TestRevokeRemovesKeyAndIndexEntries(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	keep := e.create(tid, sessions.CreateParams{UserID: "alice"})
	if err := e.m.Revoke(e.ctx, tid, c.Session.ID, sessions.Meta{Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	b := c.Session.ID[1:3]
	base := e.prefix + ":{" + tid + ":" + b + "}:"
	if n := e.rdb.Exists(e.ctx, base+"s:"+c.Session.ID).Val(); n != 0 {
		t.Fatal("session key still exists")
	}
	if err := e.rdb.ZScore(e.ctx, base+"idx", c.Session.ID).Err(); err == nil {
		t.Fatal("bucket index still names the session")
	}
	if err := e.rdb.ZScore(e.ctx, base+"u:alice", c.Session.ID).Err(); err == nil {
		t.Fatal("user zset still names the session")
	}
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.SessionInvalid)
	wantCode(t, e.m.Revoke(e.ctx, tid, c.Session.ID, sessions.Meta{}), fault.NotFound)
	e.mustVerify(tid, keep.Token)
}

// Row 8: a suspended or unknown tenant's tokens stop working.
func TestSuspendedTenantIsForbidden(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{UserID: "alice"})
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Tenant.Status = tenants.Suspended })
	_, err := e.verify(tid, c.Token)
	wantCode(t, err, fault.Forbidden)
	_, err = e.m.Create(e.ctx, tid, sessions.CreateParams{}, sessions.Meta{})
	wantCode(t, err, fault.Forbidden)
	_, err = e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: c.Token}, sessions.Meta{})
	wantCode(t, err, fault.Forbidden)
	_, err = e.verify("tn_doesnotexist0000", c.Token)
	wantCode(t, err, fault.Forbidden)
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Tenant.Status = tenants.Active })
	e.mustVerify(tid, c.Token)
}

// Rows 9 and 10: a user's sessions are listed with device info, and "log
// out other devices" keeps exactly the named one.
func TestListUserAndLogOutOtherDevices(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	var created []sessions.Created
	for i := range 5 {
		created = append(created, e.create(tid, sessions.CreateParams{
			UserID: "alice",
			Device: sessions.Device{UserAgent: fmt.Sprintf("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Chrome/12%d.0", i), IP: fmt.Sprintf("203.0.113.%d", i+1)},
		}))
		e.clock.Advance(time.Second)
	}
	e.clock.Advance(time.Minute)
	e.mustVerify(tid, created[1].Token)

	list, err := e.m.ListUser(e.ctx, tid, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 {
		t.Fatalf("listed %d sessions, want 5", len(list))
	}
	for i, s := range list {
		want := created[i].Session
		if s.ID != want.ID || s.Device.UserAgent != want.Device.UserAgent || s.Device.IP != want.Device.IP ||
			s.Device.Label != fmt.Sprintf("Chrome 12%d on macOS", i) || !s.CreatedAt.Equal(want.CreatedAt.Time) || s.LastSeenAt.IsZero() {
			t.Fatalf("session %d: %+v, want %+v", i, s, want)
		}
	}
	if !list[1].LastSeenAt.Equal(e.clock.Now()) {
		t.Fatalf("last seen %v, want %v", list[1].LastSeenAt, e.clock.Now())
	}

	keep := created[2]
	var res sessions.Revoked
	n, _ := e.count.trips(func() {
		res, err = e.m.RevokeUser(e.ctx, tid, "alice", keep.Session.ID, sessions.Meta{Actor: "user"})
	})
	revoked := res.IDs
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("RevokeUser made %d round trips, want 1", n)
	}
	if len(revoked) != 4 || res.Count != 4 || slices.Contains(revoked, keep.Session.ID) {
		t.Fatalf("revoked %v", revoked)
	}
	for _, c := range created {
		_, err := e.verify(tid, c.Token)
		if c.Session.ID == keep.Session.ID {
			if err != nil {
				t.Fatalf("kept session: %v", err)
			}
		} else {
			wantCode(t, err, fault.SessionInvalid)
		}
	}
	if got := e.events.OfType(events.OtherDevicesLoggedOut); len(got) != 1 || got[0].SessionID != keep.Session.ID || got[0].Detail["count"] != "4" {
		t.Fatalf("others_revoked events: %+v", got)
	}
	if got := e.events.OfType(events.SessionRevoked); len(got) != 4 {
		t.Fatalf("%d session.revoked events, want 4", len(got))
	}

	// Everywhere: no except.
	res, err = e.m.RevokeUser(e.ctx, tid, "alice", "", sessions.Meta{})
	if revoked = res.IDs; err != nil || len(revoked) != 1 || revoked[0] != keep.Session.ID {
		t.Fatalf("revoke everywhere: %v %v", revoked, err)
	}
	if got := e.events.OfType(events.UserLoggedOut); len(got) != 1 {
		t.Fatalf("user_revoked events: %+v", got)
	}
	if keys := e.tenantKeys(tid); len(keys) != 0 {
		t.Fatalf("keys left after revoking everywhere: %v", keys)
	}
}

func TestRevokeUserExceptAnotherUsersSessionIsNotFound(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	a := e.create(tid, sessions.CreateParams{UserID: "alice"})
	bob := e.create(tid, sessions.CreateParams{UserID: "bob"})
	anon := e.create(tid, sessions.CreateParams{})
	for _, except := range []string{bob.Session.ID, anon.Session.ID, "s" + a.Session.ID[1:3] + "_" + strings.Repeat("a", 32)} {
		_, err := e.m.RevokeUser(e.ctx, tid, "alice", except, sessions.Meta{})
		wantCode(t, err, fault.NotFound)
	}
	e.mustVerify(tid, a.Token)
}

// Row 11: a re-authentication window; regenerate with reauthenticated
// resets it.
func TestMaxAuthAgeRequiresReauthentication(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	anon := e.create(tid, sessions.CreateParams{})
	verifyAge := func(token string, age int) (sessions.Verified, error) {
		return e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: token, MaxAuthAge: testkit.Ptr(age)}, sessions.Meta{})
	}
	_, err := verifyAge(anon.Token, 300)
	wantCode(t, err, fault.ReauthRequired)

	login, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: anon.Token, UserID: testkit.Ptr("alice")}, sessions.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if login.Session.AuthTime == nil || !login.Session.AuthTime.Equal(e.clock.Now()) {
		t.Fatalf("auth_time after login: %v", login.Session.AuthTime)
	}
	if _, err := verifyAge(login.Token, 300); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(301 * time.Second)
	before := e.mustVerify(tid, login.Token).Session.IdleExpiresAt
	e.clock.Advance(sessions.TouchInterval) // past the touch interval, so a verify writes
	_, err = verifyAge(login.Token, 300)
	wantCode(t, err, fault.ReauthRequired)
	if got := e.events.OfType(events.ReauthRequired); len(got) != 2 || got[1].SessionID != login.Session.ID {
		t.Fatalf("reauth events: %+v", got)
	}
	if v := e.mustVerify(tid, login.Token); !v.Session.IdleExpiresAt.After(before.Time) {
		t.Fatal("plain verify did not slide")
	}

	re, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: login.Token, Reauthenticated: true}, sessions.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyAge(re.Token, 300); err != nil {
		t.Fatalf("after reauthentication: %v", err)
	}
	_, err = verifyAge(re.Token, -1)
	wantCode(t, err, fault.InvalidRequest)
}

// A failed check (CSRF, auth age, enforced binding) never slides the idle
// timer.
func TestFailedChecksDoNotSlideTheTimer(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) {
		p.IdleTimeout = 100
		p.Binding = tenants.Binding{UserAgent: tenants.BindingEnforce, IP: tenants.BindingOff}
	})
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{Device: sessions.Device{UserAgent: "UA-1"}})
	fails := []sessions.VerifyParams{
		{Token: c.Token, CSRFToken: testkit.Ptr("wrong")},
		{Token: c.Token, MaxAuthAge: testkit.Ptr(10)},
		{Token: c.Token, Device: &sessions.Device{UserAgent: "UA-2"}},
	}
	for range 2 {
		for _, p := range fails {
			e.clock.Advance(15 * time.Second)
			_, err := e.m.Verify(e.ctx, tid, p, sessions.Meta{})
			if c := fault.CodeOf(err); c != fault.CSRFMismatch && c != fault.ReauthRequired && c != fault.BindingMismatch {
				t.Fatalf("got %v, want a failed check", err)
			}
		}
	}
	e.clock.Advance(11 * time.Second)
	_, err := e.verify(tid, c.Token) // 101 s after create, never slid
	wantCode(t, err, fault.SessionExpiredIdle)
}

func TestCSRFTokenIsCheckedAndStableAcrossVerifies(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant()
	tid := snap.Tenant.ID
	c := e.create(tid, sessions.CreateParams{})
	if len(c.CSRFToken) < 43 || strings.Contains(c.Token, c.CSRFToken) {
		t.Fatalf("csrf token %q", c.CSRFToken)
	}
	v, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token, CSRFToken: &c.CSRFToken}, sessions.Meta{})
	if err != nil || v.CSRFToken != c.CSRFToken {
		t.Fatalf("verify with csrf: %v, csrf %q", err, v.CSRFToken)
	}
	for _, bad := range []string{"", c.CSRFToken[:42], c.CSRFToken + "A", strings.ToUpper(c.CSRFToken)} {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: c.Token, CSRFToken: testkit.Ptr(bad)}, sessions.Meta{})
		wantCode(t, err, fault.CSRFMismatch)
	}
	if got := e.events.OfType(events.CSRFMismatch); len(got) != 4 || got[0].SessionID != c.Session.ID {
		t.Fatalf("csrf events: %+v", got)
	}
}

func TestBindingReportFlagsAndEnforceRejects(t *testing.T) {
	e := newEnv(t)
	report := e.newTenant(func(p *tenants.Policy) {
		p.Binding = tenants.Binding{UserAgent: tenants.BindingReport, IP: tenants.BindingReport}
	})
	enforce := e.newTenant(func(p *tenants.Policy) {
		p.Binding = tenants.Binding{UserAgent: tenants.BindingOff, IP: tenants.BindingEnforce}
	})
	dev := sessions.Device{UserAgent: "UA-1", IP: "203.0.113.7"}
	for _, tc := range []struct {
		name     string
		snap     *tenants.Snapshot
		device   sessions.Device
		mismatch []string
		code     fault.Code
	}{
		{"report: same device", report, dev, nil, ""},
		{"report: same IPv4 /24", report, sessions.Device{UserAgent: "UA-1", IP: "203.0.113.200"}, nil, ""},
		{"report: other UA and network", report, sessions.Device{UserAgent: "UA-2", IP: "198.51.100.7"}, []string{"user_agent", "ip"}, ""},
		{"enforce: other UA only", enforce, sessions.Device{UserAgent: "UA-2", IP: "203.0.113.9"}, nil, ""},
		{"enforce: other network", enforce, sessions.Device{UserAgent: "UA-1", IP: "203.0.114.7"}, nil, fault.BindingMismatch},
		{"enforce: the device left out", enforce, sessions.Device{}, nil, fault.BindingMismatch},
		{"report: the device left out", report, sessions.Device{}, []string{"user_agent", "ip"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.create(tc.snap.Tenant.ID, sessions.CreateParams{Device: dev})
			e.events.Take()
			v, err := e.m.Verify(e.ctx, tc.snap.Tenant.ID, sessions.VerifyParams{Token: c.Token, Device: &tc.device}, sessions.Meta{})
			if tc.code != "" {
				wantCode(t, err, tc.code)
				if ev := e.events.OfType(events.VerifyRejected); len(ev) != 1 || ev[0].Detail["reason"] != "binding" {
					t.Fatalf("rejected events: %+v", ev)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(v.BindingMismatch, tc.mismatch) {
				t.Fatalf("mismatch %v, want %v", v.BindingMismatch, tc.mismatch)
			}
			if got := len(e.events.OfType(events.BindingMismatch)); (got == 1) != (tc.mismatch != nil) || got > 1 {
				t.Fatalf("%d binding events", got)
			}
		})
	}
	t.Run("IPv6 by /48", func(t *testing.T) {
		c := e.create(enforce.Tenant.ID, sessions.CreateParams{Device: sessions.Device{IP: "2001:db8:1:2::1"}})
		if _, err := e.m.Verify(e.ctx, enforce.Tenant.ID, sessions.VerifyParams{Token: c.Token, Device: &sessions.Device{IP: "2001:db8:1:ffff::9"}}, sessions.Meta{}); err != nil {
			t.Fatalf("same /48: %v", err)
		}
		_, err := e.m.Verify(e.ctx, enforce.Tenant.ID, sessions.VerifyParams{Token: c.Token, Device: &sessions.Device{IP: "2001:db8:2::1"}}, sessions.Meta{})
		wantCode(t, err, fault.BindingMismatch)
	})
}

// Row 13: no token, nonce or CSRF token in any event, log line or error
// message over a full flow.
func TestNoTokenInEventsLogsOrErrors(t *testing.T) {
	e := newEnv(t, guessLimit(3))
	snap := e.newTenant(func(p *tenants.Policy) {
		p.MaxSessionsPerUser = 1
		p.IdleTimeout = 60
		p.Binding = tenants.Binding{UserAgent: tenants.BindingReport, IP: tenants.BindingEnforce}
	})
	tid := snap.Tenant.ID
	var secretsSeen []string
	var errs []error
	note := func(c sessions.Created, err error) sessions.Created {
		if err != nil {
			errs = append(errs, err)
			return c
		}
		parts := strings.Split(c.Token, ".")
		secretsSeen = append(secretsSeen, c.Token, parts[3], parts[4], c.CSRFToken)
		return c
	}
	meta := sessions.Meta{IP: "192.0.2.55", UserAgent: "app", Actor: "api_key:ak_x"}
	anon := note(e.m.Create(e.ctx, tid, sessions.CreateParams{Device: sessions.Device{UserAgent: "UA", IP: "203.0.113.1"}}, meta))
	login := note(e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: anon.Token, UserID: testkit.Ptr("alice")}, meta))
	_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: login.Token, CSRFToken: testkit.Ptr("x"), Device: &sessions.Device{UserAgent: "UA2", IP: "203.0.113.2"}}, meta)
	errs = append(errs, err)
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: login.Token, Device: &sessions.Device{IP: "198.51.100.1"}}, meta)
	errs = append(errs, err)
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: login.Token, MaxAuthAge: testkit.Ptr(0)}, meta)
	errs = append(errs, err)
	second := note(e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "alice"}, meta)) // evicts login
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: login.Token}, meta)
	errs = append(errs, err)
	_, err = e.m.PatchData(e.ctx, tid, second.Session.ID, json.RawMessage(`{"a":1}`), nil, meta)
	errs = append(errs, err)
	e.clock.Advance(2 * time.Minute)
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: second.Token}, meta)
	errs = append(errs, err)
	third := note(e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "bob"}, meta))
	_, err = e.m.RevokeUser(e.ctx, tid, "bob", "", meta)
	errs = append(errs, err)
	for range 5 {
		_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: third.Token + "x"}, meta)
		errs = append(errs, err)
		_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: third.Token}, meta)
		errs = append(errs, err)
	}
	mustPurge(t, e, tid)

	evs, _ := json.Marshal(e.events.All())
	var msgs strings.Builder
	for _, err := range errs {
		if err != nil {
			msgs.WriteString(err.Error() + "\n")
		}
	}
	if len(e.events.All()) < 10 {
		t.Fatalf("only %d events: the flow did not run", len(e.events.All()))
	}
	for _, s := range secretsSeen {
		for name, hay := range map[string]string{"events": string(evs), "logs": e.logs.String(), "errors": msgs.String()} {
			if strings.Contains(hay, s) {
				t.Fatalf("%s contain a token part", name)
			}
		}
	}
}

// Row 17: tenant isolation; the namespace comes from the authenticated
// tenant, and ids cannot break out of it.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a, b := e.newTenant(), e.newTenant()
	ta, tb := a.Tenant.ID, b.Tenant.ID
	bs := e.create(tb, sessions.CreateParams{UserID: "alice"})
	e.create(ta, sessions.CreateParams{UserID: "alice"})
	meta := sessions.Meta{}

	n, _ := e.count.trips(func() {
		_, err := e.verify(ta, bs.Token)
		wantCode(t, err, fault.SessionInvalid)
		_, err = e.m.Regenerate(e.ctx, ta, sessions.RegenerateParams{Token: bs.Token}, meta)
		wantCode(t, err, fault.SessionInvalid)
	})
	if n != 0 {
		t.Fatalf("another tenant's token cost %d round trips", n)
	}
	_, err := e.m.Get(e.ctx, ta, bs.Session.ID)
	wantCode(t, err, fault.NotFound)
	_, err = e.m.PatchData(e.ctx, ta, bs.Session.ID, json.RawMessage(`{"x":1}`), nil, meta)
	wantCode(t, err, fault.NotFound)
	wantCode(t, e.m.Revoke(e.ctx, ta, bs.Session.ID, meta), fault.NotFound)
	_, err = e.m.RevokeUser(e.ctx, ta, "alice", bs.Session.ID, meta)
	wantCode(t, err, fault.NotFound)
	list, err := e.m.ListUser(e.ctx, ta, "alice")
	if err != nil || len(list) != 1 || list[0].ID == bs.Session.ID {
		t.Fatalf("tenant A's alice: %v %v", idsOf(list), err)
	}
	e.mustVerify(tb, bs.Token)

	for _, bad := range []string{"*", "s{a}_x", bs.Session.ID + ":*", "{" + tb + ":" + bs.Session.ID[1:3] + "}", bs.Session.ID[:35] + "*", ""} {
		t.Run("id "+bad, func(t *testing.T) {
			_, err := e.m.Get(e.ctx, ta, bad)
			wantCode(t, err, fault.InvalidRequest)
			wantCode(t, e.m.Revoke(e.ctx, ta, bad, meta), fault.InvalidRequest)
			_, err = e.m.PatchData(e.ctx, ta, bad, json.RawMessage(`{}`), nil, meta)
			wantCode(t, err, fault.InvalidRequest)
			if bad != "" {
				_, err = e.m.RevokeUser(e.ctx, ta, "alice", bad, meta)
				wantCode(t, err, fault.InvalidRequest)
			}
		})
	}
	for _, bad := range []string{"a:b", "{x}", "*", "u}:s", strings.Repeat("a", 129), "", "é"} {
		t.Run("user "+bad, func(t *testing.T) {
			if bad != "" {
				_, err := e.m.Create(e.ctx, ta, sessions.CreateParams{UserID: bad}, meta)
				wantCode(t, err, fault.InvalidRequest)
				_, _, err = e.m.List(e.ctx, ta, bad, "", 10)
				wantCode(t, err, fault.InvalidRequest)
			}
			_, err := e.m.ListUser(e.ctx, ta, bad)
			wantCode(t, err, fault.InvalidRequest)
			_, err = e.m.RevokeUser(e.ctx, ta, bad, "", meta)
			wantCode(t, err, fault.InvalidRequest)
			_, err = e.m.Regenerate(e.ctx, ta, sessions.RegenerateParams{Token: bs.Token, UserID: &bad}, meta)
			wantCode(t, err, fault.InvalidRequest)
		})
	}
	for _, good := range []string{"a", "user.name+tag@example.com", "A-Z_0-9|x=y", strings.Repeat("z", 128)} {
		if !sessions.ValidUserID(good) {
			t.Fatalf("%q rejected", good)
		}
	}
}

// Row 18: every lifecycle change is an event naming the public id.
func TestLifecycleEventsNameThePublicID(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.MaxSessionsPerUser = 1; p.IdleTimeout = 60 })
	tid := snap.Tenant.ID
	meta := sessions.Meta{IP: "192.0.2.9", UserAgent: "app/2", Actor: "api_key:ak_1"}
	want := func(typ events.Type, sid, user string) {
		t.Helper()
		evs := e.events.OfType(typ)
		if len(evs) == 0 {
			t.Fatalf("no %s event", typ)
		}
		ev := evs[len(evs)-1]
		if ev.SessionID != sid || ev.UserID != user || ev.TenantID != tid || ev.IP != meta.IP || ev.Actor != meta.Actor || ev.Time.IsZero() {
			t.Fatalf("%s event: %+v, want session %s user %q", typ, ev, sid, user)
		}
		if !sessions.ValidSessionID(ev.SessionID) && sid != "" {
			t.Fatalf("%s event session id %q", typ, ev.SessionID)
		}
	}
	anon, _ := e.m.Create(e.ctx, tid, sessions.CreateParams{}, meta)
	want(events.SessionCreated, anon.Session.ID, "")
	login, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: anon.Token, UserID: testkit.Ptr("alice")}, meta)
	if err != nil {
		t.Fatal(err)
	}
	want(events.SessionRegenerated, login.Session.ID, "alice")
	if ev := e.events.OfType(events.SessionRegenerated); ev[0].Detail["previous_session_id"] != anon.Session.ID {
		t.Fatalf("regenerated detail %v", ev[0].Detail)
	}
	second, _ := e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "alice"}, meta)
	want(events.SessionEvicted, login.Session.ID, "alice")
	if len(second.Evicted) != 1 || second.Evicted[0] != login.Session.ID {
		t.Fatalf("evicted %v", second.Evicted)
	}
	if err := e.m.Revoke(e.ctx, tid, second.Session.ID, meta); err != nil {
		t.Fatal(err)
	}
	want(events.SessionRevoked, second.Session.ID, "alice")
	third, _ := e.m.Create(e.ctx, tid, sessions.CreateParams{UserID: "bob"}, meta)
	e.clock.Advance(61 * time.Second)
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: third.Token}, meta)
	wantCode(t, err, fault.SessionExpiredIdle)
	want(events.SessionExpired, third.Session.ID, "bob")
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: third.Token}, meta)
	wantCode(t, err, fault.SessionInvalid)
	want(events.VerifyRejected, third.Session.ID, "")
	if ev := e.events.OfType(events.VerifyRejected); ev[len(ev)-1].Detail["reason"] != "unknown" {
		t.Fatalf("reason %v", ev[len(ev)-1].Detail)
	}
	_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: "v1.forged"}, meta)
	wantCode(t, err, fault.SessionInvalid)
	if ev := e.events.OfType(events.VerifyRejected); ev[len(ev)-1].Detail["reason"] != "forged" || ev[len(ev)-1].SessionID != "" {
		t.Fatalf("forged event %+v", ev[len(ev)-1])
	}
	for _, ev := range e.events.All() {
		if strings.HasPrefix(ev.SessionID, "v1.") {
			t.Fatalf("event %s carries a token", ev.Type)
		}
	}
}

// Row 19: guessing is detected and slowed, without Redis. Only forgeries
// are guesses; they count against the end user's device IP, and a token with
// a valid mac is never refused because of them.
func TestGuessingIsRateLimited(t *testing.T) {
	e := newEnv(t, guessLimit(5))
	snap := e.newTenant()
	tid := snap.Tenant.ID
	good := e.create(tid, sessions.CreateParams{})
	app := sessions.Meta{IP: "192.0.2.10"} // every call comes from the app's server
	verifyFrom := func(deviceIP, token string) error {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: token, Device: &sessions.Device{IP: deviceIP}}, app)
		return err
	}
	forged := func(i int) string { return fmt.Sprintf("v1.%s.aa.%043d.%043d", snap.Keys[0].ID, i, i) }
	stale := func() string { return signedToken(snap.Keys[0], "aa", secrets.Random(32)) } // well signed, unknown

	for i := range 5 {
		wantCode(t, verifyFrom("203.0.113.66", forged(i)), fault.SessionInvalid)
	}
	n, _ := e.count.trips(func() {
		for i := range 10 {
			wantCode(t, verifyFrom("203.0.113.66", forged(i)), fault.RateLimited)
		}
	})
	if n != 0 {
		t.Fatalf("refused forgeries made %d round trips", n)
	}
	// Refusals are reported at the 1st, 2nd, 4th and 8th: the last event
	// tells how many calls were refused, within a factor of two.
	got := e.events.OfType(events.GuessingThrottled)
	if len(got) != 4 || got[3].Detail["refused"] != "8" || got[3].Detail["source"] != "device_ip" {
		t.Fatalf("rate_limited events: %+v", got)
	}
	if err := verifyFrom("203.0.113.66", good.Token); err != nil {
		t.Fatalf("a valid token from the limited device was refused: %v", err)
	}
	wantCode(t, verifyFrom("203.0.113.66", stale()), fault.SessionInvalid) // stale, not a guess
	wantCode(t, verifyFrom("203.0.113.67", forged(99)), fault.SessionInvalid)
	e.clock.Advance(61 * time.Second)
	wantCode(t, verifyFrom("203.0.113.66", forged(100)), fault.SessionInvalid)
}

// Another instance rotated the key and signed a token with the new one
// before this instance heard of the rotation: the verify reads the tenant
// anew and accepts it, also for a source throttled for its junk (a valid
// token is never refused by the guess limits). A token of a key memory
// holds never reads anew.
func TestATokenOfAKeyThisInstanceHasNotHeardOfYetVerifies(t *testing.T) {
	e := newEnv(t, guessLimit(3))
	snap := e.newTenant()
	tid := snap.Tenant.ID
	rotated := *snap
	rotated.Keys = []tenants.Key{newKey(tid, tenants.KeyActive, e.clock.Now()), snap.Keys[0]}
	rotated.Keys[1].State = tenants.KeyRetiring
	e.tenants.stored = map[string]*tenants.Snapshot{tid: &rotated}
	other := sessions.NewManager(redisstore.New(e.rdb, redisstore.Options{Prefix: e.prefix}),
		&tenantMap{m: map[string]*tenants.Snapshot{tid: &rotated}}, sessions.Options{Now: e.clock.Now})
	c, err := other.Create(e.ctx, tid, sessions.CreateParams{UserID: "alice"}, sessions.Meta{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	app := sessions.Meta{IP: "192.0.2.10"}
	verifyFrom := func(deviceIP, token string) error {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: token, Device: &sessions.Device{IP: deviceIP}}, app)
		return err
	}
	if err := verifyFrom("203.0.113.5", c.Token); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	if n := e.tenants.reads.Load(); n != 1 {
		t.Fatalf("%d fresh reads for one token of an unknown key, want 1", n)
	}
	if err := verifyFrom("203.0.113.5", signedToken(snap.Keys[0], "aa", secrets.Random(32))); !fault.Is(err, fault.SessionInvalid) || e.tenants.reads.Load() != 1 {
		t.Fatalf("a token of a known key read the tenant anew (%v, %d reads)", err, e.tenants.reads.Load())
	}

	junk := func() string {
		return signedToken(newKey(tid, tenants.KeyActive, e.clock.Now()), "aa", secrets.Random(32))
	}
	for range 3 {
		wantCode(t, verifyFrom("203.0.113.66", junk()), fault.SessionInvalid)
	}
	wantCode(t, verifyFrom("203.0.113.66", junk()), fault.RateLimited)
	if err := verifyFrom("203.0.113.66", c.Token); err != nil {
		t.Fatalf("a valid token of the new key from the throttled device: %v", err)
	}
}

// Stale tokens (revoked, expired, unknown but well signed, or signed by a
// retired key) are what real apps see all day: they never count as guesses.
func TestStaleTokensAreNotGuesses(t *testing.T) {
	e := newEnv(t, guessLimit(2))
	snap := e.newTenant()
	tid := snap.Tenant.ID
	app := sessions.Meta{IP: "192.0.2.10"}
	dev := &sessions.Device{IP: "203.0.113.5"}
	revoked := e.create(tid, sessions.CreateParams{UserID: "alice"})
	if err := e.m.Revoke(e.ctx, tid, revoked.Session.ID, app); err != nil {
		t.Fatal(err)
	}
	retired := newKey(tid, tenants.KeyRetired, e.clock.Now())
	e.tenants.update(tid, func(s *tenants.Snapshot) { s.Keys = append(s.Keys, retired) })
	for range 20 {
		for _, tok := range []string{revoked.Token, signedToken(snap.Keys[0], "ab", secrets.Random(32)), signedToken(retired, "ab", secrets.Random(32))} {
			_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: tok, Device: dev}, app)
			wantCode(t, err, fault.SessionInvalid)
		}
	}
	if got := e.events.OfType(events.GuessingThrottled); len(got) != 0 {
		t.Fatalf("stale tokens were throttled: %+v", got)
	}
}

// An app's old cookies after its key was retired: the cache keeps a retired
// key's id but never its secret, so the mac cannot be checked. Such tokens
// are stale, not forged: session_invalid with reason retired_key, never
// counted as guesses, so 1,200 of them from one device are never
// rate_limited. Forgeries still count.
func TestRetiredKeyTokensAreNeverGuesses(t *testing.T) {
	for _, dev := range []*sessions.Device{{IP: "203.0.113.77"}, nil} {
		name := "from one device IP"
		if dev == nil {
			name = "from one app without device IPs"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, guessLimit(sessions.DefaultGuessLimit), func(o *sessions.Options) {
				o.GuessLimitPerCaller = sessions.DefaultGuessLimitPerCaller
			})
			snap := e.newTenant()
			tid := snap.Tenant.ID
			const n = 1200
			toks := make([]string, n)
			for i := range toks {
				toks[i] = e.create(tid, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i%97)}).Token
			}
			next := newKey(tid, tenants.KeyActive, e.clock.Now())
			now := e.clock.Now()
			e.tenants.update(tid, func(s *tenants.Snapshot) {
				// As tenants.Cache holds a retired key: metadata, no secret.
				s.Keys[0].State, s.Keys[0].RetiredAt, s.Keys[0].Secret = tenants.KeyRetired, &now, nil
				s.Keys = append(s.Keys, next)
			})
			e.events.Take()
			app := sessions.Meta{IP: "192.0.2.10"}
			trips, _ := e.count.trips(func() {
				for i, tok := range toks {
					_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: tok, Device: dev}, app)
					if !fault.Is(err, fault.SessionInvalid) {
						t.Fatalf("old cookie %d of a retired key = %v, want session_invalid", i, err)
					}
				}
			})
			if trips != 0 {
				t.Errorf("tokens of a retired key cost %d Redis round trips", trips)
			}
			rejected := e.events.OfType(events.VerifyRejected)
			if len(rejected) != n {
				t.Fatalf("%d verify_rejected events, want %d", len(rejected), n)
			}
			for _, ev := range rejected {
				if ev.Detail["reason"] != "retired_key" || ev.SessionID != "" {
					t.Fatalf("event %+v, want reason retired_key and no session id (the mac is unchecked)", ev)
				}
			}
			if got := e.events.OfType(events.GuessingThrottled); len(got) != 0 {
				t.Fatalf("tokens of a retired key were throttled: %+v", got)
			}
			// Forgeries from the same source still count: a bad mac on the
			// live key.
			limit := sessions.DefaultGuessLimit
			if dev == nil {
				limit = sessions.DefaultGuessLimitPerCaller
			}
			var err error
			for i := 0; i <= limit; i++ {
				forged := signedToken(tenants.Key{ID: next.ID, Secret: secrets.Random(32)}, "ab", secrets.Random(32))
				_, err = e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: forged, Device: dev}, app)
			}
			wantCode(t, err, fault.RateLimited)
		})
	}
}

// Row 24: the guess limiter's table is fair per tenant. Tenant B's flood of
// forgeries from 150,000 random device IPs fills only B's share of it:
// tenant A's throttled attacker stays throttled.
func TestAnotherTenantsFloodNeverUnthrottlesAnAttacker(t *testing.T) {
	e := newEnv(t, guessLimit(sessions.DefaultGuessLimit))
	a, b := e.newTenant().Tenant.ID, e.newTenant().Tenant.ID
	app := sessions.Meta{IP: "192.0.2.10"}
	attacker := &sessions.Device{IP: "198.51.100.66"}
	forge := func(tid string, dev *sessions.Device) error {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: "v1.k_forged.ab.x.y", Device: dev}, app)
		return err
	}
	for range sessions.DefaultGuessLimit {
		wantCode(t, forge(a, attacker), fault.SessionInvalid)
	}
	wantCode(t, forge(a, attacker), fault.RateLimited)
	for i := range 150_000 {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if err := forge(b, &sessions.Device{IP: ip}); !fault.Is(err, fault.SessionInvalid) {
			t.Fatalf("forgery %d of tenant B's flood = %v, want session_invalid (each source is new)", i, err)
		}
		if i%10_000 == 0 {
			e.events.Take() // keep the recorder small
		}
	}
	wantCode(t, forge(a, attacker), fault.RateLimited)
}

// Without a device IP, forgeries count against the API caller with a much
// higher budget, and still never refuse a valid token.
func TestGuessingWithoutDeviceIPUsesTheCallersBudget(t *testing.T) {
	e := newEnv(t, guessLimit(2), func(o *sessions.Options) { o.GuessLimitPerCaller = 6 })
	snap := e.newTenant()
	tid := snap.Tenant.ID
	good := e.create(tid, sessions.CreateParams{})
	app := sessions.Meta{IP: "192.0.2.10"}
	for i := range 9 {
		_, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: fmt.Sprintf("junk-%d", i)}, app)
		want := fault.SessionInvalid
		if i >= 6 {
			want = fault.RateLimited
		}
		wantCode(t, err, want)
		if _, err := e.m.Verify(e.ctx, tid, sessions.VerifyParams{Token: good.Token}, app); err != nil {
			t.Fatalf("valid token refused after %d junk tokens: %v", i+1, err)
		}
	}
	got := e.events.OfType(events.GuessingThrottled)
	if len(got) == 0 || got[0].Detail["source"] != "caller_ip" || got[0].Detail["limit_per_minute"] != "6" {
		t.Fatalf("rate_limited events: %+v", got)
	}
}

// A tightened policy reaches live sessions at their next verify; a loosened
// one never lengthens them.
func TestPolicyChangesAndLiveSessions(t *testing.T) {
	e := newEnv(t)
	snap := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = 1800; p.AbsoluteTimeout = 28800 })
	tid := snap.Tenant.ID
	setPolicy := func(idle, abs int) {
		e.tenants.update(tid, func(s *tenants.Snapshot) { s.Policy.IdleTimeout = idle; s.Policy.AbsoluteTimeout = abs })
	}

	t.Run("a shorter idle timeout applies from the next verify", func(t *testing.T) {
		setPolicy(1800, 28800)
		c := e.create(tid, sessions.CreateParams{UserID: "alice"})
		setPolicy(60, 28800)
		v := e.mustVerify(tid, c.Token)
		if v.Session.IdleTimeout != 60 || !v.Session.IdleExpiresAt.Equal(e.clock.Now().Add(time.Minute)) {
			t.Fatalf("after tightening: idle %d, idle deadline %v", v.Session.IdleTimeout, v.Session.IdleExpiresAt)
		}
		e.clock.Advance(61 * time.Second)
		_, err := e.verify(tid, c.Token)
		wantCode(t, err, fault.SessionExpiredIdle)
	})

	t.Run("an idle timeout tightened while the user was away ends the session", func(t *testing.T) {
		setPolicy(1800, 28800)
		c := e.create(tid, sessions.CreateParams{UserID: "alice"})
		e.clock.Advance(10 * time.Minute) // within the old idle timeout, past the new one
		setPolicy(300, 28800)
		_, err := e.verify(tid, c.Token)
		wantCode(t, err, fault.SessionExpiredIdle)
	})

	t.Run("a shorter absolute timeout counts from the session's creation", func(t *testing.T) {
		setPolicy(1800, 28800)
		c := e.create(tid, sessions.CreateParams{UserID: "alice"})
		e.clock.Advance(20 * time.Minute)
		setPolicy(1800, 3600)
		v := e.mustVerify(tid, c.Token)
		if want := c.Session.CreatedAt.Add(time.Hour); !v.Session.ExpiresAt.Equal(want) {
			t.Fatalf("expires_at %v, want %v", v.Session.ExpiresAt, want)
		}
		key := e.prefix + ":{" + tid + ":" + c.Session.ID[1:3] + "}:s:" + c.Session.ID
		if e.keyExpiry(key).After(c.Session.CreatedAt.Add(time.Hour)) {
			t.Fatal("the Redis key outlives the tightened absolute deadline")
		}
		e.clock.Advance(20 * time.Minute)
		e.mustVerify(tid, c.Token)
		e.clock.Advance(20 * time.Minute) // created + 60 min
		_, err := e.verify(tid, c.Token)
		wantCode(t, err, fault.SessionExpiredAbsolute)
	})

	t.Run("regenerate applies a tightened policy too, in its bucket and across", func(t *testing.T) {
		for name, c := range regenerations {
			setPolicy(1800, 28800)
			created := e.create(tid, c.create)
			setPolicy(60, 3600)
			r, err := e.m.Regenerate(e.ctx, tid, c.regen(created.Token), sessions.Meta{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if r.Session.IdleTimeout != 60 || !r.Session.ExpiresAt.Equal(created.Session.CreatedAt.Add(time.Hour)) ||
				!r.Session.IdleExpiresAt.Equal(e.clock.Now().Add(time.Minute)) {
				t.Fatalf("%s: idle %d, idle deadline %v, expires %v", name, r.Session.IdleTimeout, r.Session.IdleExpiresAt, r.Session.ExpiresAt)
			}
			e.mustVerify(tid, r.Token)
		}
	})

	t.Run("a longer policy never lengthens a live session", func(t *testing.T) {
		setPolicy(600, 3600)
		c := e.create(tid, sessions.CreateParams{UserID: "alice"})
		setPolicy(7200, 86400)
		v := e.mustVerify(tid, c.Token)
		if v.Session.IdleTimeout != 600 || !v.Session.ExpiresAt.Equal(c.Session.ExpiresAt.Time) {
			t.Fatalf("a looser policy changed the session: idle %d, expires %v", v.Session.IdleTimeout, v.Session.ExpiresAt)
		}
		e.clock.Advance(11 * time.Minute)
		_, err := e.verify(tid, c.Token)
		wantCode(t, err, fault.SessionExpiredIdle)
	})
}

// regenerations are the two paths of Regenerate: a session that stays in its
// bucket (re-authentication, one script) and one that moves (an anonymous
// session logging in, claim then create).
var regenerations = map[string]struct {
	create sessions.CreateParams
	regen  func(token string) sessions.RegenerateParams
}{
	"re-authentication": {sessions.CreateParams{UserID: "alice"}, func(tok string) sessions.RegenerateParams {
		return sessions.RegenerateParams{Token: tok, Reauthenticated: true}
	}},
	"login of an anonymous one": {sessions.CreateParams{}, func(tok string) sessions.RegenerateParams {
		return sessions.RegenerateParams{Token: tok, UserID: testkit.Ptr("bob")}
	}},
}
