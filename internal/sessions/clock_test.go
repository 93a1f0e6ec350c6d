package sessions_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// The engine's clock may be years away from Redis's: every Redis expiry is
// relative (deadline - now on the engine's clock), so sessions live exactly
// as long as the engine says, whatever the date. With absolute expiry
// (PEXPIREAT), a clock behind Redis's makes every key expire at once and a
// clock ahead keeps keys for years.
func TestEngineIgnoresTheDistanceToRedissClock(t *testing.T) {
	const years = 5 * 365 * 24 * time.Hour
	for _, c := range []struct {
		name   string
		offset time.Duration
	}{
		{"five years ahead of Redis", years},
		{"five years behind Redis", -years},
		{"on Redis's time", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvAt(t, testkit.NewClockAt(time.Now().Add(c.offset).Truncate(time.Second)))
			const idle, abs = 60, 3600
			tid := e.newTenant(func(p *tenants.Policy) { p.IdleTimeout = idle; p.AbsoluteTimeout = abs }).Tenant.ID
			s := e.create(tid, sessions.CreateParams{UserID: "alice"})
			key := e.prefix + ":{" + tid + ":" + s.Session.ID[1:3] + "}:s:" + s.Session.ID

			// The key lives until the idle deadline plus the grace, on the
			// engine's clock (a little less: real time passes).
			want := s.Session.IdleExpiresAt.Add(sessions.ExpiryGrace)
			if got := e.keyExpiry(key); got.After(want) || got.Before(want.Add(-5*time.Second)) {
				t.Fatalf("the session key expires at %v, want %v", got, want)
			}

			e.clock.Advance(idle / 2 * time.Second)
			v := e.mustVerify(tid, s.Token)
			if !v.Session.IdleExpiresAt.Equal(e.clock.Now().Add(idle * time.Second)) {
				t.Fatalf("verify slid the idle deadline to %v", v.Session.IdleExpiresAt)
			}
			r, err := e.m.Regenerate(e.ctx, tid, sessions.RegenerateParams{Token: s.Token, Reauthenticated: true}, sessions.Meta{})
			if err != nil {
				t.Fatalf("Regenerate: %v", err)
			}
			list, err := e.m.ListUser(e.ctx, tid, "alice")
			if err != nil || len(list) != 1 || list[0].ID != r.Session.ID {
				t.Fatalf("ListUser: %v %v", list, err)
			}

			e.clock.Advance((idle + 1) * time.Second)
			_, err = e.verify(tid, r.Token)
			wantCode(t, err, fault.SessionExpiredIdle)

			// Touched every idle/2, a session still ends at its absolute deadline.
			s2 := e.create(tid, sessions.CreateParams{UserID: "bob"})
			for e.clock.Now().Add(idle / 2 * time.Second).Before(s2.Session.ExpiresAt.Time) {
				e.clock.Advance(idle / 2 * time.Second)
				e.mustVerify(tid, s2.Token)
			}
			e.clock.Advance(idle / 2 * time.Second)
			_, err = e.verify(tid, s2.Token)
			wantCode(t, err, fault.SessionExpiredAbsolute)
		})
	}
}
