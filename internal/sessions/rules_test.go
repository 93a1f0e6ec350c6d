package sessions

// Table tests of the session rules (rules.go). They need no Redis; the
// store's Lua twins are checked against these functions in redisstore.

import (
	"testing"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

const (
	t0     = int64(1_700_000_000_000) // a created_at, Unix ms
	second = int64(1000)
	minute = 60 * second
)

func intPtr(v int) *int { return &v }

func TestNewTimeouts(t *testing.T) {
	pol := tenants.Policy{IdleTimeout: 600, AbsoluteTimeout: 3600}
	for _, c := range []struct {
		name            string
		idle, abs       *int
		wantIdle, wantA int64
		badFields       []string
	}{
		{"the policy's timeouts by default", nil, nil, 600, 3600, nil},
		{"shorter requested timeouts are kept", intPtr(30), intPtr(100), 30, 100, nil},
		{"the idle timeout never exceeds the absolute one", nil, intPtr(60), 60, 60, nil},
		{"timeouts equal to the policy's are allowed", intPtr(600), intPtr(3600), 600, 3600, nil},
		{"a longer idle timeout is refused", intPtr(601), nil, 0, 0, []string{"idle_timeout"}},
		{"a longer absolute timeout is refused", nil, intPtr(3601), 0, 0, []string{"absolute_timeout"}},
		{"zero and negative timeouts are refused, each named", intPtr(0), intPtr(-5), 0, 0, []string{"idle_timeout", "absolute_timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			idle, abs, err := newTimeouts(TimeoutsOf(pol), ProfileStandard, c.idle, c.abs)
			if c.badFields != nil {
				fe, ok := err.(*fault.Error)
				if !ok || fe.Code != fault.InvalidRequest || len(fe.Fields) != len(c.badFields) {
					t.Fatalf("error %v, want invalid %v", err, c.badFields)
				}
				for i, f := range fe.Fields {
					if f.Field != c.badFields[i] {
						t.Fatalf("field %d is %s, want %s", i, f.Field, c.badFields[i])
					}
				}
				return
			}
			if err != nil || idle != c.wantIdle || abs != c.wantA {
				t.Fatalf("got %d, %d, %v; want %d, %d", idle, abs, err, c.wantIdle, c.wantA)
			}
		})
	}
}

// A profile's lifetime applies to its sessions: remember-me's when the
// policy has one (else the standard one), and a tightened one reaches live
// sessions as the standard one does.
func TestProfilesLiveByTheirLifetimes(t *testing.T) {
	l := Timeouts{IdleTimeout: 1800, AbsoluteTimeout: 28800, RememberMe: Lifetime{86400, 30 * 86400}, Impersonation: Lifetime{900, 3600}}
	for prof, want := range map[int64][2]int64{ProfileStandard: {1800, 28800}, ProfileRememberMe: {86400, 30 * 86400}, ProfileImpersonation: {900, 3600}, 7: {1800, 28800}} {
		if idle, abs := l.For(prof); idle != want[0] || abs != want[1] {
			t.Errorf("For(%d) = %d, %d; want %v", prof, idle, abs, want)
		}
	}
	if idle, abs := (Timeouts{IdleTimeout: 60, AbsoluteTimeout: 600}).For(ProfileRememberMe); idle != 60 || abs != 600 {
		t.Errorf("without a remember_me lifetime, For = %d, %d; want the standard 60, 600", idle, abs)
	}
	if l.Longest() != 30*86400 {
		t.Errorf("Longest = %d", l.Longest())
	}
	idle, abs, err := newTimeouts(l, ProfileRememberMe, nil, intPtr(7*86400))
	if err != nil || idle != 86400 || abs != 7*86400 {
		t.Fatalf("a remember-me session asking for 7 days: %d, %d, %v", idle, abs, err)
	}
	if _, _, err := newTimeouts(l, ProfileStandard, nil, intPtr(7*86400)); err == nil {
		t.Fatal("a standard session got 7 days")
	}

	r := startRecord(Record{UserID: "alice", Profile: ProfileRememberMe}, t0, 86400, 30*86400)
	tight := l
	tight.RememberMe = Lifetime{3600, 86400}
	got := r.Effective(tight)
	if got.IdleTimeout != 3600 || got.ExpiresAt != t0+86400*1000 || got.IdleExpiresAt != t0+3600*1000 {
		t.Fatalf("a tightened remember_me lifetime: %+v", got)
	}
	if std := r.Effective(Timeouts{IdleTimeout: 1800, AbsoluteTimeout: 28800}); std.ExpiresAt != t0+28800*1000 {
		t.Fatalf("remember_me removed from the policy: the session keeps %d, want the standard deadline", std.ExpiresAt)
	}

	login := Record{CreatedAt: t0, LastSeenAt: t0, IdleTimeout: 600, IdleExpiresAt: t0 + 600*1000, ExpiresAt: t0 + 3600*1000}
	now := t0 + minute
	if got := login.Renew(now, "alice", false, l, "pwd:k", true); got.Profile != ProfileRememberMe || got.IdleTimeout != 86400 || got.ExpiresAt != now+30*86400*1000 {
		t.Fatalf("a login with remember-me: %+v", got)
	}
	if got := r.Renew(now, "bob", false, l, "", false); got.Profile != ProfileStandard || got.IdleTimeout != 1800 || got.ExpiresAt != now+28800*1000 {
		t.Fatalf("a remembered session logging in as another user without remember-me: %+v", got)
	}
	if got := r.Renew(now, "", true, l, "", true); got.Profile != ProfileRememberMe || got.ExpiresAt != r.ExpiresAt {
		t.Fatalf("a re-authentication extended a remembered session: %+v", got)
	}
}

func TestStartRecord(t *testing.T) {
	for _, c := range []struct {
		name      string
		user      string
		idle, abs int64
		want      Record
	}{
		{"a user's session is a login", "alice", 600, 3600,
			Record{UserID: "alice", CreatedAt: t0, LastSeenAt: t0, AuthTime: t0, IdleTimeout: 600, IdleExpiresAt: t0 + 10*minute, ExpiresAt: t0 + 60*minute}},
		{"an anonymous session never authenticated", "", 600, 3600,
			Record{CreatedAt: t0, LastSeenAt: t0, IdleTimeout: 600, IdleExpiresAt: t0 + 10*minute, ExpiresAt: t0 + 60*minute}},
		{"the idle deadline is never past the absolute one", "", 600, 60,
			Record{CreatedAt: t0, LastSeenAt: t0, IdleTimeout: 600, IdleExpiresAt: t0 + minute, ExpiresAt: t0 + minute}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := startRecord(Record{UserID: c.user}, t0, c.idle, c.abs); got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestSlide(t *testing.T) {
	for _, c := range []struct {
		name           string
		now, idle, exp int64
		want           int64
	}{
		{"the idle deadline moves to now plus the idle timeout", t0, 600, t0 + 60*minute, t0 + 10*minute},
		{"never past the absolute deadline", t0 + 55*minute, 600, t0 + 60*minute, t0 + 60*minute},
		{"exactly at the absolute deadline", t0 + 50*minute, 600, t0 + 60*minute, t0 + 60*minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Slide(c.now, c.idle, c.exp); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	// Created at t0 with 30 min idle and 8 h absolute, last seen 10 min in.
	base := Record{CreatedAt: t0, LastSeenAt: t0 + 10*minute, IdleTimeout: 1800, IdleExpiresAt: t0 + 40*minute, ExpiresAt: t0 + 480*minute}
	for _, c := range []struct {
		name string
		l    Timeouts
		want func(Record) Record
	}{
		{"the same policy changes nothing", Timeouts{IdleTimeout: 1800, AbsoluteTimeout: 28800}, func(r Record) Record { return r }},
		{"a looser policy never lengthens the session", Timeouts{IdleTimeout: 7200, AbsoluteTimeout: 86400}, func(r Record) Record { return r }},
		{"a shorter idle timeout counts from the last use", Timeouts{IdleTimeout: 300, AbsoluteTimeout: 28800}, func(r Record) Record {
			r.IdleTimeout, r.IdleExpiresAt = 300, t0+15*minute
			return r
		}},
		{"a shorter absolute timeout counts from creation", Timeouts{IdleTimeout: 1800, AbsoluteTimeout: 1800}, func(r Record) Record {
			r.ExpiresAt, r.IdleExpiresAt = t0+30*minute, t0+30*minute
			return r
		}},
		{"both tightened", Timeouts{IdleTimeout: 60, AbsoluteTimeout: 600}, func(r Record) Record {
			r.IdleTimeout, r.IdleExpiresAt, r.ExpiresAt = 60, t0+10*minute, t0+10*minute
			return r
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, want := base.Effective(c.l), c.want(base); got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	r := Record{IdleExpiresAt: t0 + 10*minute, ExpiresAt: t0 + 60*minute}
	for _, c := range []struct {
		name string
		r    Record
		now  int64
		want Status
	}{
		{"alive before both deadlines", r, t0 + 10*minute - 1, StatusOK},
		{"idle-expired at the idle deadline", r, t0 + 10*minute, StatusExpiredIdle},
		{"absolute-expired at the absolute deadline", r, t0 + 60*minute, StatusExpiredAbsolute},
		{"absolute before idle when both passed", Record{IdleExpiresAt: t0, ExpiresAt: t0}, t0, StatusExpiredAbsolute},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.r.Expiry(c.now); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestRenew(t *testing.T) {
	l := Timeouts{IdleTimeout: 600, AbsoluteTimeout: 3600}
	old := Record{UserID: "alice", CreatedAt: t0, LastSeenAt: t0 + 5*minute, AuthTime: t0, IdleTimeout: 600,
		IdleExpiresAt: t0 + 15*minute, ExpiresAt: t0 + 60*minute, KeyID: "k_old"}
	now := t0 + 20*minute
	for _, c := range []struct {
		name    string
		r       Record
		now     int64
		user    string
		setAuth bool
		want    func(Record) Record
	}{
		{"keeps created_at and the absolute deadline, slides the idle one", old, now, "", false, func(r Record) Record {
			r.LastSeenAt, r.IdleExpiresAt = now, now+10*minute
			return r
		}},
		{"re-authentication sets auth_time", old, now, "alice", true, func(r Record) Record {
			r.LastSeenAt, r.IdleExpiresAt, r.AuthTime = now, now+10*minute, now
			return r
		}},
		{"a change of user is a login with a fresh lifetime", old, now, "bob", false, func(r Record) Record {
			r.UserID, r.CreatedAt, r.ExpiresAt, r.AuthTime = "bob", now, now+60*minute, now
			r.LastSeenAt, r.IdleExpiresAt = now, now+10*minute
			return r
		}},
		{"an anonymous session logging in", Record{CreatedAt: t0, LastSeenAt: t0, IdleTimeout: 600, IdleExpiresAt: t0 + 10*minute, ExpiresAt: t0 + 60*minute}, now, "alice", true,
			func(r Record) Record {
				return Record{UserID: "alice", CreatedAt: now, LastSeenAt: now, AuthTime: now, IdleTimeout: 600, IdleExpiresAt: now + 10*minute, ExpiresAt: now + 60*minute}
			}},
		{"near the end the idle deadline stops at the absolute one", old, t0 + 55*minute, "", false, func(r Record) Record {
			r.LastSeenAt, r.IdleExpiresAt = t0+55*minute, t0+60*minute
			return r
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, want := c.r.Renew(c.now, c.user, c.setAuth, l, "", false), c.want(c.r); got != want {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestBindingMismatch(t *testing.T) {
	for _, c := range []struct {
		name              string
		mode              tenants.BindingMode
		presented, stored string
		want              bool
	}{
		{"off never mismatches", tenants.BindingOff, "UA-2", "UA-1", false},
		{"an unknown mode is off", "bogus", "UA-2", "UA-1", false},
		{"report: the same attribute matches", tenants.BindingReport, "UA-1", "UA-1", false},
		{"report: another attribute mismatches", tenants.BindingReport, "UA-2", "UA-1", true},
		{"enforce: another attribute mismatches", tenants.BindingEnforce, "UA-2", "UA-1", true},
		{"a stored attribute left out is a mismatch", tenants.BindingEnforce, "", "UA-1", true},
		{"nothing stored, nothing to compare", tenants.BindingEnforce, "UA-2", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := BindingMismatch(c.mode, c.presented, c.stored); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestNeedsReauth(t *testing.T) {
	now := t0 + 60*minute
	for _, c := range []struct {
		name        string
		at, maxAge  int64
		wantRefused bool
	}{
		{"no max_auth_age checks nothing", 0, NoMaxAuthAge, false},
		{"never authenticated must authenticate", 0, 300 * second, true},
		{"within the window", now - 300*second, 300 * second, false},
		{"past the window", now - 300*second - 1, 300 * second, true},
		{"max_auth_age 0 accepts only an authentication now", now, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NeedsReauth(now, c.at, c.maxAge); got != c.wantRefused {
				t.Fatalf("got %v, want %v", got, c.wantRefused)
			}
		})
	}
}

func TestCap(t *testing.T) {
	if c := CapOf(tenants.Policy{MaxSessionsPerUser: 3, OnLimit: tenants.EvictOldest}); c != (Cap{Max: 3, EvictOldest: true}) {
		t.Fatalf("CapOf evict_oldest: %+v", c)
	}
	if c := CapOf(tenants.Policy{MaxSessionsPerUser: 3, OnLimit: tenants.Reject}); c != (Cap{Max: 3}) {
		t.Fatalf("CapOf reject: %+v", c)
	}
	for _, c := range []struct {
		name      string
		cap       Cap
		live      int
		wantEvict int
		wantOK    bool
	}{
		{"unlimited always has room", Cap{}, 1000, 0, true},
		{"under the cap nothing is evicted", Cap{Max: 3, EvictOldest: true}, 2, 0, true},
		{"at the cap the oldest is evicted", Cap{Max: 3, EvictOldest: true}, 3, 1, true},
		{"over the cap (a tightened policy) the excess goes too", Cap{Max: 3, EvictOldest: true}, 5, 3, true},
		{"at the cap reject refuses", Cap{Max: 3}, 3, 0, false},
		{"under the cap reject accepts", Cap{Max: 3}, 2, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			evict, ok := c.cap.Room(c.live)
			if evict != c.wantEvict || ok != c.wantOK {
				t.Fatalf("got %d, %v; want %d, %v", evict, ok, c.wantEvict, c.wantOK)
			}
		})
	}
}
