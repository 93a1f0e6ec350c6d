package sessions

import (
	"strconv"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// The session rules: deadlines, expiry, binding, re-authentication and the
// per-user cap, as pure functions of their inputs (times are Unix
// milliseconds on the engine's clock, timeouts seconds). Each rule has one
// home here. Where the round-trip budget makes a store apply a rule inside
// its atomic step (verify, regenerate, the cap at create), the store's
// implementation must give the same results; redisstore tests its Lua
// against these functions on randomized cases. docs/architecture.md,
// "Where each rule lives", maps each rule to both homes.

// Timeouts are a tenant policy's timeouts, in seconds, which bound every
// session of the tenant, including those created under a looser policy
// (Record.Effective): IdleTimeout and AbsoluteTimeout those of standard
// sessions, RememberMe and Impersonation those of the other profiles (zero:
// the standard ones).
type Timeouts struct {
	IdleTimeout     int64
	AbsoluteTimeout int64
	RememberMe      Lifetime
	Impersonation   Lifetime
}

// Lifetime is a profile's idle and absolute timeouts, in seconds.
type Lifetime struct{ Idle, Absolute int64 }

// Session profiles: which of the policy's lifetimes a session lives by
// (Record.Profile).
const (
	ProfileStandard      int64 = 0
	ProfileRememberMe    int64 = 1
	ProfileImpersonation int64 = 2
)

// profileNames are the API's names of the profiles.
var profileNames = [...]string{"standard", "remember_me", "impersonation"}

// TimeoutsOf returns the timeouts of pol.
func TimeoutsOf(pol tenants.Policy) Timeouts {
	return Timeouts{
		IdleTimeout: int64(pol.IdleTimeout), AbsoluteTimeout: int64(pol.AbsoluteTimeout),
		RememberMe:    Lifetime{int64(pol.RememberMe.IdleTimeout), int64(pol.RememberMe.AbsoluteTimeout)},
		Impersonation: Lifetime{int64(pol.Impersonation.IdleTimeout), int64(pol.Impersonation.AbsoluteTimeout)},
	}
}

// For returns the idle and absolute timeouts of profile: its lifetime's,
// or the standard ones when the policy has none for it.
// Lua: lifetime(t, prof).
func (l Timeouts) For(profile int64) (idle, abs int64) {
	var lt Lifetime
	switch profile {
	case ProfileRememberMe:
		lt = l.RememberMe
	case ProfileImpersonation:
		lt = l.Impersonation
	}
	if lt.Absolute <= 0 {
		return l.IdleTimeout, l.AbsoluteTimeout
	}
	return lt.Idle, lt.Absolute
}

// Longest returns the longest absolute timeout of any profile: a session
// created longer ago than that has certainly ended. Lua: longest(t).
func (l Timeouts) Longest() int64 {
	return max(l.AbsoluteTimeout, l.RememberMe.Absolute, l.Impersonation.Absolute)
}

// newTimeouts returns the idle and absolute timeouts (seconds) of a new
// session of profile prof: the policy's for it, or the shorter ones
// requested. The idle timeout never exceeds the absolute one. A requested
// timeout under 1 s or longer than the policy's is a fault.InvalidRequest
// naming every such field.
func newTimeouts(l Timeouts, prof int64, idleReq, absReq *int) (idle, abs int64, err error) {
	polIdle, polAbs := l.For(prof)
	var fields []fault.FieldError
	check := func(name string, req *int, limit int) int64 {
		if req == nil {
			return int64(limit)
		}
		switch {
		case *req < 1:
			fields = append(fields, fault.FieldError{Field: name, Message: "must be at least 1 second"})
		case *req > limit:
			fields = append(fields, fault.FieldError{Field: name, Message: "must not exceed the tenant policy's " + strconv.Itoa(limit) + " seconds"})
		}
		return int64(*req)
	}
	idle = check("idle_timeout", idleReq, int(polIdle))
	abs = check("absolute_timeout", absReq, int(polAbs))
	if len(fields) > 0 {
		return 0, 0, &fault.Error{Code: fault.InvalidRequest, Message: fields[0].Field + ": " + fields[0].Message, Fields: fields}
	}
	return min(idle, abs), abs, nil
}

// startRecord returns the times of a session created at now with the given
// timeouts (seconds): last seen now, the absolute deadline abs seconds on,
// the idle deadline idle seconds on but never past the absolute one. A
// session created for a user is a login, so its auth_time is now; an
// anonymous one has none (0).
func startRecord(r Record, now, idle, abs int64) Record {
	r.CreatedAt, r.LastSeenAt = now, now
	r.AuthTime = 0
	if r.UserID != "" {
		r.AuthTime = now
	}
	r.IdleTimeout = idle
	r.ExpiresAt = now + abs*1000
	r.IdleExpiresAt = Slide(now, idle, r.ExpiresAt)
	return r
}

// Slide returns the idle deadline of a session used at now: now plus its
// idle timeout (seconds), never past its absolute deadline exp.
// Lua: slide(now, idle, exp).
func Slide(now, idle, exp int64) int64 {
	return min(now+idle*1000, exp)
}

// Fresh reports whether r's recorded last use is recent enough at now that
// verify need not write this use: within the touch interval, the smaller of
// touch (ms) and a tenth of r's idle timeout. The idle deadline the server
// keeps then lags the last real use by less than that interval: a session
// may end that much early, never late. Lua: fresh(r, now, touch).
func Fresh(r Record, now, touch int64) bool {
	return now-r.LastSeenAt < min(touch, r.IdleTimeout*100)
}

// Effective returns r under the tenant's timeouts l: a timeout tightened since
// the session began applies to it (idle deadline at most last seen + the
// policy's idle timeout, absolute deadline at most created + the policy's
// absolute timeout); a looser one never lengthens it. The timeouts are those
// of the session's profile (Timeouts.For). Every read, verify, regenerate
// and claim applies it. Lua: effective(r, t).
func (r Record) Effective(l Timeouts) Record {
	idle, abs := l.For(r.Profile)
	if idle < r.IdleTimeout {
		r.IdleTimeout = idle
		r.IdleExpiresAt = min(r.IdleExpiresAt, r.LastSeenAt+idle*1000)
	}
	r.ExpiresAt = min(r.ExpiresAt, r.CreatedAt+abs*1000)
	r.IdleExpiresAt = min(r.IdleExpiresAt, r.ExpiresAt)
	return r
}

// Expiry returns StatusOK while r is within both deadlines at now,
// StatusExpiredAbsolute once its absolute deadline has passed (checked
// first), else StatusExpiredIdle once its idle deadline has.
// Lua: expiry(r, now).
func (r Record) Expiry(now int64) Status {
	switch {
	case now >= r.ExpiresAt:
		return StatusExpiredAbsolute
	case now >= r.IdleExpiresAt:
		return StatusExpiredIdle
	}
	return StatusOK
}

// Renew returns the session that replaces r when it is regenerated at now
// (after Effective): used now, its idle deadline slid, signed anew. userID
// "" keeps r's user. A change of user is a login: a fresh lifetime (created
// now, absolute deadline now + the policy's absolute timeout) and an
// auth_time of now, as setAuth (re-authentication) also gives. Otherwise
// created_at and the absolute deadline stay, never extended.
// A change of user keeps only the factors of add ("method:kind,…", proved
// now); otherwise they are added to r's (AddFactors). A change of user is
// also a new profile: remember-me when remember (its idle timeout and
// lifetime), else standard (the idle timeout kept, within the standard
// one), and no actor. Lua: renew(r, now, uid, set_auth, t, add, remember).
func (r Record) Renew(now int64, userID string, setAuth bool, l Timeouts, add string, remember bool) Record {
	if userID == "" {
		userID = r.UserID
	}
	if userID != r.UserID {
		prof := ProfileStandard
		if remember {
			prof = ProfileRememberMe
		}
		idle, abs := l.For(prof)
		if !remember {
			idle = min(idle, r.IdleTimeout)
		}
		r.Profile, r.Actor, r.IdleTimeout = prof, "", idle
		r.CreatedAt = now
		r.ExpiresAt = now + abs*1000
		r.Factors = ""
		setAuth = true
	}
	r.Factors = AddFactors(r.Factors, add, now, r.CreatedAt)
	r.UserID = userID
	if setAuth {
		r.AuthTime = now
	}
	r.LastSeenAt = now
	r.IdleExpiresAt = Slide(now, r.IdleTimeout, r.ExpiresAt)
	return r
}

// BindingMismatch reports whether a device attribute the session stored
// differs from the one presented at verify under mode: never when the mode
// is off (anything but report and enforce) or nothing was stored; a stored
// attribute that is left out ("") is a mismatch, or enforce could be
// bypassed by omitting the device. Under enforce a mismatch refuses the
// verify; under report it is only reported.
// Lua: binding_mismatch(mode, presented, stored).
func BindingMismatch(mode tenants.BindingMode, presented, stored string) bool {
	if mode != tenants.BindingReport && mode != tenants.BindingEnforce {
		return false
	}
	return stored != "" && presented != stored
}

// NoMaxAuthAge disables the re-authentication check (NeedsReauth).
const NoMaxAuthAge int64 = -1

// NeedsReauth reports whether a session authenticated at authTime (0:
// never) must authenticate again at now under a maximum age of maxAge ms:
// when it never authenticated or did so more than maxAge ago. A negative
// maxAge (NoMaxAuthAge) checks nothing.
// Lua: needs_reauth(now, at, max_age).
func NeedsReauth(now, authTime, maxAge int64) bool {
	if maxAge < 0 {
		return false
	}
	return authTime == 0 || now-authTime > maxAge
}

// Cap is the per-user session cap of a tenant's policy: at most Max live
// sessions per user (0: unlimited); at the cap, a new session evicts the
// oldest (EvictOldest) or is refused. Anonymous sessions have no cap.
type Cap struct {
	Max         int
	EvictOldest bool
}

// CapOf returns the cap of pol.
func CapOf(pol tenants.Policy) Cap {
	return Cap{Max: max(pol.MaxSessionsPerUser, 0), EvictOldest: pol.OnLimit == tenants.EvictOldest}
}

// Room decides whether a user with live sessions (not counting one being
// replaced) may get one more: ok with the number of oldest sessions to evict first (0 when under
// the cap), or not ok when the cap is reached and the policy refuses.
// Lua: room(live, max, evict_oldest).
func (c Cap) Room(live int) (evict int, ok bool) {
	if c.Max <= 0 {
		return 0, true
	}
	excess := live - c.Max + 1
	switch {
	case excess <= 0:
		return 0, true
	case !c.EvictOldest:
		return 0, false
	}
	return excess, true
}
