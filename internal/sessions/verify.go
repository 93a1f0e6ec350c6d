package sessions

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// TouchInterval is the most a session's recorded last use (and so its
// server-side idle deadline) may lag its last real use: SDK caches touch a
// cached session at most once per interval (GET /v1/changes tells them).
const TouchInterval = 5 * time.Second

// VerifyParams is a verify request. CSRFToken, MaxAuthAge (seconds) and
// Device are optional checks; Device is the end user's device as the app
// sees it now, compared under the tenant's binding policy. It is also the
// body of POST /v1/sessions/verify (SessionVerify in api/openapi.yaml).
type VerifyParams struct {
	Token      string  `json:"token"`
	CSRFToken  *string `json:"csrf_token"`
	MaxAuthAge *int    `json:"max_auth_age"`
	Device     *Device `json:"device"`
	// MinAAL is the assurance level required (the policy's min_aal at
	// least) and MaxFactorAge, per method, the seconds since it was last
	// proved: a session short of either is step_up_required.
	MinAAL       *int           `json:"min_aal"`
	MaxFactorAge map[string]int `json:"max_factor_age"`
}

// Verified is a verified session. Token is set only when the presented token
// was signed by a retiring key: it is the same session (same id) re-signed by
// the active key, for the app to store instead. BindingMismatch lists the
// attributes ("user_agent", "ip") that differed under report mode.
type Verified struct {
	Session         Session  `json:"session"`
	Token           string   `json:"token,omitempty"`
	CSRFToken       string   `json:"csrf_token"`
	BindingMismatch []string `json:"binding_mismatch,omitempty"`
}

// Verify checks a token and its session in exactly one store round trip
// (one Redis script); a token whose signature does not verify costs no store
// call at all. On success it slides the idle deadline (rolling policy),
// never past the absolute one, and the store's expiry with it.
//
// A policy tightened since the session began applies to it from its next
// verify: the idle deadline is at most last seen + the policy's idle
// timeout, the absolute one at most created + the policy's absolute timeout.
// A loosened policy never lengthens a live session.
//
// CSRF: the session's CSRF token is derived from the token's nonce (see
// csrfToken), so it is compared here in constant time and the store gets
// only the verdict; the store runs every check (deadlines, binding, CSRF
// verdict, auth age) before it writes anything, so a failed check never
// slides the timer, and all of it is one round trip (Store.Verify).
//
// Guessing: forged tokens (malformed, unknown kid, bad mac on a live key;
// not a token of a retired key, which is session_invalid) count against
// their source in memory: p.Device.IP, or meta.IP with a higher budget when
// the app sent no device IP. Past the source's limit a minute, further
// forgeries from it are answered rate_limited; a token with a valid mac is
// never refused by the limiter (guess.go).
//
// Errors: fault.Forbidden (unknown or suspended tenant), fault.RateLimited
// (too many forged tokens from the source), fault.SessionInvalid (malformed,
// forged, unknown kid, retired key, unknown or revoked session),
// fault.SessionExpiredIdle, fault.SessionExpiredAbsolute,
// fault.BindingMismatch (enforce mode), fault.CSRFMismatch,
// fault.ReauthRequired (auth_time older than MaxAuthAge, or none),
// fault.InvalidRequest (max_auth_age < 0, device), fault.Unavailable.
func (m *Manager) Verify(ctx context.Context, tenantID string, p VerifyParams, meta Meta) (Verified, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return Verified{}, err
	}
	v, err := m.verifyStart(tenantID, snap, p, meta, m.now())
	if err != nil {
		return Verified{}, err
	}
	res, err := m.store.Verify(ctx, v.call)
	if err != nil {
		return Verified{}, err
	}
	return m.verifyEnd(&v, res)
}

// VerifyOutcome is one item's answer of VerifyBatch: Err, or else Verified.
type VerifyOutcome struct {
	Verified Verified
	Err      error
}

// VerifyBatch verifies each of items as Verify would and answers out[i]
// for items[i]: every item gets every check, the guess
// limiter and the events of Verify, and its own outcome (a refused item
// refuses no other). The items that reach the store are verified in one
// store call (Store.VerifyBatch: one pipelined Redis round trip) instead of
// one each; items refused before the store (forged, retired key, guess
// limit, invalid) cost no store call at all. All items are verified at one
// instant of the clock.
//
// Errors, for the whole call (then no outcome is given, although the store
// may have applied some items): fault.Forbidden (unknown or suspended
// tenant), fault.Unavailable, fault.Internal. Each item's Err is one of
// Verify's.
func (m *Manager) VerifyBatch(ctx context.Context, tenantID string, items []VerifyParams, meta Meta) ([]VerifyOutcome, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]VerifyOutcome, len(items))
	started := make([]verifyStarted, 0, len(items))
	at := make([]int, 0, len(items)) // started[j] is items[at[j]]
	for i, p := range items {
		v, err := m.verifyStart(tenantID, snap, p, meta, now)
		if err != nil {
			out[i].Err = err
			continue
		}
		started = append(started, v)
		at = append(at, i)
	}
	if len(started) == 0 {
		return out, nil
	}
	res, err := sendBatch(ctx, started, func(v *verifyStarted) VerifyCall { return v.call }, m.store.VerifyBatch)
	if err != nil {
		return nil, err
	}
	for j := range started {
		o := &out[at[j]]
		o.Verified, o.Err = m.verifyEnd(&started[j], res[j])
	}
	return out, nil
}

// sendBatch sends the store calls of the started items of a batch (call)
// in one store call (send) and returns its answers, results[j] for
// started[j]. Errors: send's, and fault.Internal when the store answered
// another number of calls.
func sendBatch[S, C, R any](ctx context.Context, started []S, call func(*S) C, send func(context.Context, []C) ([]R, error)) ([]R, error) {
	calls := make([]C, len(started))
	for j := range started {
		calls[j] = call(&started[j])
	}
	res, err := send(ctx, calls)
	if err != nil {
		return nil, err
	}
	if len(res) != len(calls) {
		return nil, fault.New(fault.Internal, "session store answered %d of %d calls", len(res), len(calls))
	}
	return res, nil
}

// verifyStarted is a verify whose token is authentic and whose store call
// is ready: what verifyEnd needs to read the store's answer.
type verifyStarted struct {
	p        VerifyParams
	meta     Meta // with the device of p
	tok      token
	call     VerifyCall
	resigned string // the token re-signed by the active key, if its key is retiring
}

// verifyStart runs a verify's steps before the store, at now: the token's
// mac (the guess limiter, a key created elsewhere read fresh, retired
// keys), the checks' inputs, and the re-signing of a retiring key's
// token. Its errors are Verify's, but for fault.Unavailable and
// fault.Forbidden.
func (m *Manager) verifyStart(tenantID string, snap *tenants.Snapshot, p VerifyParams, meta Meta, now time.Time) (verifyStarted, error) {
	if p.Device != nil {
		meta.Device = *p.Device
	}
	a, err := m.authenticate(tenantID, snap, p.Token, meta, p.deviceIP(), now, "verify")
	if err != nil {
		return verifyStarted{}, err
	}
	call, err := verifyCall(a.snap, a.tok, p, ms(now))
	if err != nil {
		return verifyStarted{}, err
	}
	v := verifyStarted{p: p, meta: meta, tok: a.tok, call: call}
	v.resigned, v.call.KeyID = resign(a.snap, a.key, a.tok)
	return v, nil
}

// verifyEnd reads the store's answer res to v: the verified session, or
// the refusal, with their events.
func (m *Manager) verifyEnd(v *verifyStarted, res VerifyResult) (Verified, error) {
	if res.Status != StatusOK {
		return Verified{}, m.verifyRefused(v.call, res, v.p, v.meta)
	}
	return m.verified(v.call.Ref, res, v.tok, v.resigned, v.meta), nil
}

func (p VerifyParams) deviceIP() string {
	if p.Device == nil {
		return ""
	}
	return p.Device.IP
}

// verifyCall turns a verify request for the authentic token tok into the
// store's call: the policy's timeouts and binding modes, the CSRF verdict
// (compared here, in constant time) and the checks' inputs. Errors:
// fault.InvalidRequest (max_auth_age < 0, device.ip).
func verifyCall(snap *tenants.Snapshot, tok token, p VerifyParams, now int64) (VerifyCall, error) {
	pol := snap.Policy
	c := VerifyCall{
		Ref: Ref{TenantID: snap.Tenant.ID, Bucket: tok.bucket, ID: sessionID(tok.bucket, tok.nonce)},
		Now: now, Timeouts: TimeoutsOf(pol), Rolling: pol.Rolling, MaxAuthAge: NoMaxAuthAge, Touch: TouchInterval.Milliseconds(),
		UserAgentMode: pol.Binding.UserAgent, IPMode: pol.Binding.IP, MinAAL: max(pol.MinAAL, AAL1),
	}
	if p.MinAAL != nil {
		if *p.MinAAL < AAL1 || *p.MinAAL > AAL2 {
			return VerifyCall{}, fault.Invalid("min_aal", "must be 1 or 2")
		}
		c.MinAAL = max(c.MinAAL, *p.MinAAL)
	}
	if len(p.MaxFactorAge) > 0 {
		var err error
		if c.FactorAges, err = factorAges(p.MaxFactorAge); err != nil {
			return VerifyCall{}, err
		}
	}
	if p.CSRFToken != nil {
		c.CSRFMismatch = !csrfMatches(tok.nonce, *p.CSRFToken)
	}
	if p.MaxAuthAge != nil {
		if *p.MaxAuthAge < 0 {
			return VerifyCall{}, fault.Invalid("max_auth_age", "must be a whole number of seconds, 0 or more")
		}
		c.MaxAuthAge = int64(*p.MaxAuthAge) * 1000
	}
	if p.Device != nil {
		c.UserAgent = p.Device.UserAgent
		var err error
		if _, c.IPBinding, err = normalizeIP(p.Device.IP); err != nil {
			return VerifyCall{}, err
		}
	}
	return c, nil
}

// resign returns tok signed by the tenant's active key and that key's id
// when key, which signed tok, is retiring; else "", "".
func resign(snap *tenants.Snapshot, key tenants.Key, tok token) (string, string) {
	if key.State != tenants.KeyRetiring {
		return "", ""
	}
	active, err := activeKey(snap)
	if err != nil || active.ID == key.ID {
		return "", ""
	}
	return signToken(active.ID, active.Secret, tok.bucket, tok.nonce), active.ID
}

// verified returns a verified session, recording the attributes that
// differed under report mode.
func (m *Manager) verified(ref Ref, res VerifyResult, tok token, resigned string, meta Meta) Verified {
	var mismatched []string
	if len(res.Mismatched) > 0 {
		mismatched = res.Mismatched
		m.record(ref.TenantID, events.BindingMismatch, res.Record.UserID, ref.ID, meta,
			impersonator(map[string]string{"mode": "report", "attributes": strings.Join(mismatched, ",")}, res.Record))
	}
	return Verified{Session: view(ref.ID, res.Record), Token: resigned, CSRFToken: csrfToken(tok.nonce), BindingMismatch: mismatched}
}

// verifyRefused records why the store refused a verify and returns its
// error.
func (m *Manager) verifyRefused(c VerifyCall, res VerifyResult, p VerifyParams, meta Meta) error {
	tid, uid, sid := c.Ref.TenantID, res.UserID, c.Ref.ID
	switch res.Status {
	case StatusMissing:
		m.record(tid, events.VerifyRejected, "", sid, meta, map[string]string{"reason": "unknown", "op": "verify"})
		return errSessionInvalid()
	case StatusExpiredIdle, StatusExpiredAbsolute:
		return m.expired(tid, uid, res.Actor, sid, res.Status, meta, "verify")
	case StatusBinding:
		attrs := strings.Join(res.Mismatched, ",")
		m.record(tid, events.BindingMismatch, uid, sid, meta, withImpersonator(map[string]string{"mode": "enforce", "attributes": attrs}, res.Actor))
		m.record(tid, events.VerifyRejected, uid, sid, meta, withImpersonator(map[string]string{"reason": "binding", "attributes": attrs, "op": "verify"}, res.Actor))
		return fault.New(fault.BindingMismatch, "the session is bound to another device (%s)", attrs)
	case StatusCSRF:
		m.record(tid, events.CSRFMismatch, uid, sid, meta, withImpersonator(nil, res.Actor))
		return fault.New(fault.CSRFMismatch, "the CSRF token does not match the session")
	case StatusReauth:
		m.record(tid, events.ReauthRequired, uid, sid, meta, withImpersonator(map[string]string{"max_auth_age": strconv.Itoa(*p.MaxAuthAge)}, res.Actor))
		return fault.New(fault.ReauthRequired, "the user must authenticate again (max_auth_age %d s)", *p.MaxAuthAge)
	case StatusStepUp:
		have, stale := stepUpMissing(res.Record.Factors, res.Record.CreatedAt, c.Now, c.FactorAges)
		need := &fault.StepUp{AAL: c.MinAAL, HaveAAL: have, Factors: stale}
		if need.Factors == nil {
			need.Factors = []string{}
		}
		m.record(tid, events.StepUpRequired, uid, sid, meta, impersonator(map[string]string{
			"min_aal": strconv.Itoa(c.MinAAL), "aal": strconv.Itoa(have), "factors": strings.Join(stale, ","),
		}, res.Record))
		err := fault.New(fault.StepUpRequired, "the session needs a step-up: assurance level %d (it has %d)", c.MinAAL, have)
		if len(stale) > 0 {
			err = fault.New(fault.StepUpRequired, "the session needs a step-up: prove %s again", strings.Join(stale, ", "))
		}
		err.StepUp = need
		return err
	}
	return unexpected(res.Status)
}

// authenticate parses raw and checks its mac against the tenant's keyring,
// without any Redis command. It returns the key that signed the token
// (active or retiring). A token naming a retired key of the tenant is
// session_invalid with reason retired_key whatever its mac (the snapshot
// keeps retired keys' ids, not their secrets): it is a stale cookie, never
// counted as a guess, so an app's old cookies never get rate_limited. Only
// forgeries (malformed, unknown kid, bad mac on a live key) count toward the
// guess limit of their source (deviceIP, or the caller's IP when the app
// sent none); past the limit they are answered rate_limited. A token with a
// valid mac is never refused by the limiter (see guess.go).
func (m *Manager) authenticate(tenantID string, snap *tenants.Snapshot, raw string, meta Meta, deviceIP string, now time.Time, op string) (authentic, error) {
	tok, ok := parseToken(raw)
	var key tenants.Key
	if ok {
		key, ok = snap.Key(tok.kid, now)
		if !ok && strings.HasPrefix(tok.kid, tenants.KeyIDPrefix) {
			snap, key, ok = m.newKey(tenantID, snap, tok.kid, now)
		}
	}
	if ok && key.State == tenants.KeyRetired {
		sid := "" // named only when the mac proves the token was issued
		if tok.authentic(key.Secret) {
			sid = sessionID(tok.bucket, tok.nonce)
		}
		m.record(tenantID, events.VerifyRejected, "", sid, meta, map[string]string{"reason": "retired_key", "op": op})
		return authentic{}, errSessionInvalid()
	}
	if ok && tok.authentic(key.Secret) {
		return authentic{tok: tok, key: key, snap: snap}, nil
	}
	source, addr, limit := GuessByDeviceIP, deviceIP, m.guessLimit
	if addr == "" {
		source, addr, limit = GuessByCallerIP, meta.IP, m.guessLimitPerCaller
	}
	if refused, n := m.guesses.forged(tenantID, source, addr, limit, now); refused {
		if m.onThrottled != nil {
			m.onThrottled(tenantID, source)
		}
		if reportRefusal(n) {
			m.record(tenantID, events.GuessingThrottled, "", "", meta, map[string]string{
				"source": string(source), "source_ip": addr, "limit_per_minute": strconv.Itoa(limit), "refused": strconv.Itoa(n),
			})
		}
		return authentic{}, fault.New(fault.RateLimited, "too many forged session tokens from this %s; try again later", source)
	}
	m.record(tenantID, events.VerifyRejected, "", "", meta, map[string]string{"reason": "forged", "op": op})
	return authentic{}, errSessionInvalid()
}

// authentic is a token whose mac verified, the key that signed it and the
// tenant's snapshot that holds that key.
type authentic struct {
	tok  token
	key  tenants.Key
	snap *tenants.Snapshot
}

// newKey looks for key kid, which snap does not hold, in the tenant as read
// anew: a key rotated in on another instance signs tokens there before this
// instance hears of it. Every source gets the read, a throttled one too (a
// token with a valid mac is never refused by the guess limits); the source
// bounds what junk key ids cost (TenantSource.Fresh). If the tenant cannot
// be read, or is no longer active, snap stands.
func (m *Manager) newKey(tenantID string, snap *tenants.Snapshot, kid string, now time.Time) (*tenants.Snapshot, tenants.Key, bool) {
	fresh, err := m.tenants.Fresh(tenantID)
	if err != nil || fresh == nil || fresh.Tenant.Status != tenants.Active {
		return snap, tenants.Key{}, false
	}
	key, ok := fresh.Key(kid, now)
	if !ok {
		return snap, tenants.Key{}, false
	}
	return fresh, key, true
}

// expired records a session's expiry (found by verify or regenerate) and
// returns its error. status is StatusExpiredIdle or StatusExpiredAbsolute.
func (m *Manager) expired(tenantID, uid, actor, sid string, status Status, meta Meta, op string) error {
	m.record(tenantID, events.SessionExpired, uid, sid, meta, withImpersonator(map[string]string{"reason": strings.TrimPrefix(string(status), "expired_")}, actor))
	m.record(tenantID, events.VerifyRejected, uid, sid, meta, withImpersonator(map[string]string{"reason": string(status), "op": op}, actor))
	if status == StatusExpiredIdle {
		return fault.New(fault.SessionExpiredIdle, "the session expired after inactivity")
	}
	return fault.New(fault.SessionExpiredAbsolute, "the session reached its maximum lifetime")
}

func errSessionInvalid() error {
	return fault.New(fault.SessionInvalid, "the session token is invalid, revoked or unknown")
}
