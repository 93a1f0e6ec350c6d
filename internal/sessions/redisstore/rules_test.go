package redisstore_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// luaRule runs common.lua plus a one-line wrapper that calls one rule.
type luaRule struct {
	t      *testing.T
	rdb    redis.UniversalClient
	script *redis.Script
}

func newLuaRule(t *testing.T, rdb redis.UniversalClient, wrapper string) luaRule {
	return luaRule{t: t, rdb: rdb, script: redis.NewScript(redisstore.CommonLua + wrapper)}
}

func (l luaRule) run(args ...any) any {
	l.t.Helper()
	v, err := l.script.Run(context.Background(), l.rdb, nil, args...).Result()
	if err != nil {
		l.t.Fatalf("Lua: %v", err)
	}
	return v
}

func (l luaRule) record(args ...any) sessions.Record {
	l.t.Helper()
	s, _ := l.run(args...).(string)
	rec, err := redisstore.DecodeRecord(s)
	if err != nil {
		l.t.Fatalf("Lua returned %q: %v", s, err)
	}
	return rec
}

// near returns a time around base: often exactly at it or a millisecond
// off, so that the rules' boundaries are hit.
func near(r *rand.Rand, base int64) int64 {
	switch r.IntN(4) {
	case 0:
		return base
	case 1:
		return base + r.Int64N(3) - 1
	}
	return base + r.Int64N(7_200_000) - 3_600_000
}

// randomSession returns a stored session whose deadlines and timeouts lie
// close to each other and to the policy's, in the engine's units.
func randomSession(r *rand.Rand) sessions.Record {
	rec := randomRecord(r)
	rec.Data = `{"cart":3}` // short failure messages
	ca := rec.CreatedAt
	rec.IdleTimeout = []int64{60, 600, 1800, 3600}[r.IntN(4)]
	rec.LastSeenAt = ca + r.Int64N(3_600_000)*r.Int64N(2)
	rec.ExpiresAt = ca + []int64{3_600_000, 7_200_000, 28_800_000}[r.IntN(3)]
	rec.IdleExpiresAt = min(rec.LastSeenAt+rec.IdleTimeout*1000, rec.ExpiresAt)
	rec.Profile = r.Int64N(3)
	rec.Factors = ""
	for _, m := range randomMethods(r) {
		rec.Factors = sessions.AddFactors(rec.Factors, m, ca+r.Int64N(3_600_000), ca)
	}
	return rec
}

// methods are "method:kind" entries of every kind.
var methods = []string{"pwd:k", "pin:k", "otp:p", "hwk:p", "sms:p", "fpt:i", "face:i"}

// randomMethods returns 0 to 3 "method:kind" entries, possibly repeated.
func randomMethods(r *rand.Rand) []string {
	out := make([]string, r.IntN(4))
	for i := range out {
		out[i] = methods[r.IntN(len(methods))]
	}
	return out
}

// randomAges returns a step-up's "method:ms,…", possibly empty.
func randomAges(r *rand.Rand) string {
	var ages []string
	for _, m := range randomMethods(r) {
		name, _, _ := strings.Cut(m, ":")
		ages = append(ages, name+":"+strconv.FormatInt([]int64{0, 1000, 300_000, 1_800_000}[r.IntN(4)], 10))
	}
	return strings.Join(ages, ",")
}

func randomTimeouts(r *rand.Rand) sessions.Timeouts {
	lifetime := func() sessions.Lifetime {
		if r.IntN(3) == 0 {
			return sessions.Lifetime{} // the policy has none: the standard one applies
		}
		return sessions.Lifetime{Idle: []int64{60, 600, 3600, 86_400}[r.IntN(4)], Absolute: []int64{1800, 7200, 86_400, 2_592_000}[r.IntN(4)]}
	}
	return sessions.Timeouts{
		IdleTimeout:     []int64{60, 600, 1800, 3600, 7200}[r.IntN(5)],
		AbsoluteTimeout: []int64{1800, 3600, 7200, 28_800, 86_400}[r.IntN(5)],
		RememberMe:      lifetime(),
		Impersonation:   lifetime(),
	}
}

// luaTimeouts is the Lua of a sessions.Timeouts passed as the six
// arguments from ARGV[i] (timeoutArgs), named as the scripts name them.
func luaTimeouts(i int) string {
	n := func(name string, k int) string { return name + " = tonumber(ARGV[" + strconv.Itoa(i+k) + "])" }
	return "{" + n("pidle", 0) + ", " + n("pabs", 1) + ", " + n("ridle", 2) + ", " + n("rabs", 3) + ", " + n("iidle", 4) + ", " + n("iabs", 5) + "}"
}

func timeoutArgs(l sessions.Timeouts) []any {
	return []any{l.IdleTimeout, l.AbsoluteTimeout, l.RememberMe.Idle, l.RememberMe.Absolute, l.Impersonation.Idle, l.Impersonation.Absolute}
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Where verify and regenerate must apply a rule atomically, the Lua in
// common.lua applies it; it must give the same results as the rule's one Go
// definition (internal/sessions/rules.go) on every input.
func TestLuaRulesAgreeWithGo(t *testing.T) {
	rdb := testkit.Redis(t)
	const cases = 300
	r := rand.New(rand.NewPCG(7, 8))

	t.Run("effective deadlines under a tightened policy", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return encode(effective(decode(ARGV[1]), "+luaTimeouts(2)+"))")
		for range cases {
			rec, l := randomSession(r), randomTimeouts(r)
			want := rec.Effective(l)
			if got := lua.record(append([]any{redisstore.EncodeRecord(rec)}, timeoutArgs(l)...)...); got != want {
				t.Fatalf("effective(%+v, %+v): Lua %+v, Go %+v", rec, l, got, want)
			}
		}
	})
	t.Run("expiry status, absolute before idle", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return expiry(decode(ARGV[1]), tonumber(ARGV[2]))")
		for range cases {
			rec := randomSession(r)
			now := near(r, []int64{rec.ExpiresAt, rec.IdleExpiresAt}[r.IntN(2)])
			if got, want := lua.run(redisstore.EncodeRecord(rec), now), string(rec.Expiry(now)); got != want {
				t.Fatalf("expiry(%+v, %d): Lua %v, Go %v", rec, now, got, want)
			}
		}
	})
	t.Run("sliding the idle deadline", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return slide(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))")
		for range cases {
			rec := randomSession(r)
			now := near(r, rec.ExpiresAt-rec.IdleTimeout*1000)
			if got, want := lua.run(now, rec.IdleTimeout, rec.ExpiresAt), sessions.Slide(now, rec.IdleTimeout, rec.ExpiresAt); got != want {
				t.Fatalf("slide(%d, %d, %d): Lua %v, Go %v", now, rec.IdleTimeout, rec.ExpiresAt, got, want)
			}
		}
	})
	t.Run("renewal at regenerate", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return encode(renew(decode(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1', "+luaTimeouts(7)+", ARGV[5], ARGV[6] == '1'))")
		for range cases {
			rec, l := randomSession(r), randomTimeouts(r)
			rec = rec.Effective(l)
			now := near(r, rec.LastSeenAt+60_000)
			uid := []string{"", rec.UserID, "bob"}[r.IntN(3)]
			setAuth := r.IntN(2) == 0
			add := strings.Join(randomMethods(r), ",")
			remember := r.IntN(2) == 0
			want := rec.Renew(now, uid, setAuth, l, add, remember)
			if got := lua.record(append([]any{redisstore.EncodeRecord(rec), now, uid, flag(setAuth), add, flag(remember)}, timeoutArgs(l)...)...); got != want {
				t.Fatalf("renew(%+v, %d, %q, %v): Lua %+v, Go %+v", rec, now, uid, setAuth, got, want)
			}
		}
	})
	t.Run("factors: adding, the assurance level, step-up", func(t *testing.T) {
		add := newLuaRule(t, rdb, "return add_factors(ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))")
		level := newLuaRule(t, rdb, "return aal(ARGV[1])")
		met := newLuaRule(t, rdb, "return step_up_met(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]) and 1 or 0")
		for range cases {
			rec := randomSession(r)
			now := rec.CreatedAt + r.Int64N(7_200_000)
			list := strings.Join(randomMethods(r), ",")
			if got, want := add.run(rec.Factors, list, now, rec.CreatedAt), sessions.AddFactors(rec.Factors, list, now, rec.CreatedAt); got != want {
				t.Fatalf("add_factors(%q, %q): Lua %v, Go %v", rec.Factors, list, got, want)
			}
			if got, want := level.run(rec.Factors), int64(sessions.AAL(rec.Factors)); got != want {
				t.Fatalf("aal(%q): Lua %v, Go %v", rec.Factors, got, want)
			}
			minAAL, ages := 1+r.IntN(2), randomAges(r)
			want := int64(0)
			if sessions.StepUpMet(rec.Factors, rec.CreatedAt, now, minAAL, ages) {
				want = 1
			}
			if got := met.run(rec.Factors, rec.CreatedAt, now, minAAL, ages); got != want {
				t.Fatalf("step_up_met(%q, %d, %d, %d, %q): Lua %v, Go %v", rec.Factors, rec.CreatedAt, now, minAAL, ages, got, want)
			}
		}
	})
	t.Run("binding: off, report, enforce; a stored attribute left out", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return binding_mismatch(ARGV[1], ARGV[2], ARGV[3]) and 1 or 0")
		modes := []tenants.BindingMode{tenants.BindingOff, tenants.BindingReport, tenants.BindingEnforce, "", "bogus"}
		values := []string{"", "UA-1", "UA-2", "\xcb\x00\x71"}
		for _, mode := range modes {
			for _, presented := range values {
				for _, stored := range values {
					want := int64(0)
					if sessions.BindingMismatch(mode, presented, stored) {
						want = 1
					}
					if got := lua.run(string(mode), presented, stored); got != want {
						t.Fatalf("binding_mismatch(%q, %q, %q): Lua %v, Go %v", mode, presented, stored, got, want)
					}
				}
			}
		}
	})
	t.Run("re-authentication", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "return needs_reauth(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])) and 1 or 0")
		for range cases {
			now := 1_700_000_000_000 + r.Int64N(1<<30)
			maxAge := []int64{sessions.NoMaxAuthAge, 0, 1000, 300_000}[r.IntN(4)]
			at := []int64{0, now, near(r, now-max(maxAge, 0))}[r.IntN(3)]
			want := int64(0)
			if sessions.NeedsReauth(now, at, maxAge) {
				want = 1
			}
			if got := lua.run(now, at, maxAge); got != want {
				t.Fatalf("needs_reauth(%d, %d, %d): Lua %v, Go %v", now, at, maxAge, got, want)
			}
		}
	})
	t.Run("the cap: evict the oldest or refuse", func(t *testing.T) {
		lua := newLuaRule(t, rdb, "local e, ok = room(tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1') return {e, ok and 1 or 0}")
		for live := range 6 {
			for maxSessions := range 5 {
				for _, evict := range []bool{true, false} {
					c := sessions.Cap{Max: maxSessions, EvictOldest: evict}
					n, ok := c.Room(live)
					got := lua.run(live, maxSessions, flag(evict)).([]any)
					if got[0] != int64(n) || (got[1] == int64(1)) != ok {
						t.Fatalf("room(%d, %+v): Lua %v, Go %d %v", live, c, got, n, ok)
					}
				}
			}
		}
	})
}
