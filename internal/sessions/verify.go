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

// VerifyParams is a verify request. CSRFToken, MaxAuthAge (seconds) and
// Device are optional checks; Device is the end user's device as the app
// sees it now, compared under the tenant's binding policy.
type VerifyParams struct {
	Token      string
	CSRFToken  *string
	MaxAuthAge *int
	Device     *Device
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

// Verify checks a token and its session in exactly one Redis round trip; a
// token whose signature does not verify costs no Redis command at all. On
// success it slides the idle deadline (rolling policy), never past the
// absolute one, and the key's Redis expiry with it.
//
// A policy tightened since the session began applies to it from its next
// verify: the idle deadline is at most last seen + the policy's idle
// timeout, the absolute one at most created + the policy's absolute timeout.
// A loosened policy never lengthens a live session.
//
// CSRF: the session's CSRF token is derived from the token's nonce (see
// csrfToken), so Go compares the presented one in constant time before the
// script runs and passes only the verdict; the script runs every check
// (deadlines, binding, CSRF verdict, auth age) before it writes anything, so
// a failed check never slides the timer, and all of it is one EVALSHA.
//
// Guessing: forged tokens (malformed, unknown kid, bad mac) count against
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
	now := m.now()
	deviceIP := ""
	if p.Device != nil {
		deviceIP = p.Device.IP
	}
	tok, key, err := m.authenticate(tenantID, snap, p.Token, meta, deviceIP, now, "verify")
	if err != nil {
		return Verified{}, err
	}
	sid := sessionID(tok.bucket, tok.nonce)

	csrfArg := ""
	if p.CSRFToken != nil {
		csrfArg = "0"
		if csrfMatches(tok.nonce, *p.CSRFToken) {
			csrfArg = "1"
		}
	}
	authArg := ""
	if p.MaxAuthAge != nil {
		if *p.MaxAuthAge < 0 {
			return Verified{}, fault.Invalid("max_auth_age", "must be a whole number of seconds, 0 or more")
		}
		authArg = strconv.FormatInt(int64(*p.MaxAuthAge)*1000, 10)
	}
	pol := snap.Policy
	var ua, ipn string
	if p.Device != nil {
		ua = p.Device.UserAgent
		if _, ipn, err = normalizeIP(p.Device.IP); err != nil {
			return Verified{}, err
		}
	}
	resigned, kidArg := "", ""
	if key.State == tenants.KeyRetiring {
		if active, err := activeKey(snap); err == nil && active.ID != key.ID {
			resigned = signToken(active.ID, active.Secret, tok.bucket, tok.nonce)
			kidArg = active.ID
		}
	}
	rolling := "0"
	if pol.Rolling {
		rolling = "1"
	}

	ks := m.keys(tenantID, tok.bucket)
	res, err := m.run(ctx, verifyScript, []string{ks.session(sid), ks.index()},
		ms(now), sid, csrfArg, authArg,
		bindingMode(pol.Binding.UserAgent), ua, bindingMode(pol.Binding.IP), ipn,
		rolling, kidArg, pol.IdleTimeout, pol.AbsoluteTimeout)
	if err != nil {
		return Verified{}, err
	}
	status := str(res[0])
	uid := ""
	if len(res) > 1 {
		uid = str(res[1])
	}
	switch status {
	case "ok":
		rec, _ := parseRecord(strList(res[1]))
		var mismatched []string
		if len(res) > 2 {
			mismatched = strList(res[2])
		}
		if len(mismatched) > 0 {
			m.record(tenantID, events.BindingMismatch, rec.uid, sid, meta,
				map[string]string{"mode": "report", "attributes": strings.Join(mismatched, ",")})
		} else {
			mismatched = nil
		}
		return Verified{Session: rec.session(sid), Token: resigned, CSRFToken: csrfToken(tok.nonce), BindingMismatch: mismatched}, nil
	case "missing":
		m.record(tenantID, events.VerifyRejected, "", sid, meta, map[string]string{"reason": "unknown", "op": "verify"})
		return Verified{}, errSessionInvalid()
	case "expired_idle", "expired_absolute":
		return Verified{}, m.expired(tenantID, uid, sid, status, meta, "verify")
	case "binding":
		attrs := strings.Join(strList(res[2]), ",")
		m.record(tenantID, events.BindingMismatch, uid, sid, meta, map[string]string{"mode": "enforce", "attributes": attrs})
		m.record(tenantID, events.VerifyRejected, uid, sid, meta, map[string]string{"reason": "binding", "attributes": attrs, "op": "verify"})
		return Verified{}, fault.New(fault.BindingMismatch, "the session is bound to another device (%s)", attrs)
	case "csrf":
		m.record(tenantID, events.CSRFMismatch, uid, sid, meta, nil)
		return Verified{}, fault.New(fault.CSRFMismatch, "the CSRF token does not match the session")
	case "reauth":
		m.record(tenantID, events.ReauthRequired, uid, sid, meta, map[string]string{"max_auth_age": strconv.Itoa(*p.MaxAuthAge)})
		return Verified{}, fault.New(fault.ReauthRequired, "the user must authenticate again (max_auth_age %d s)", *p.MaxAuthAge)
	}
	return Verified{}, fault.New(fault.Internal, "session store returned an unexpected reply")
}

// authenticate parses raw and checks its mac against the tenant's keyring,
// without any Redis command. It returns the key that signed the token
// (active or retiring). Only forgeries (malformed, unknown kid, bad mac) count
// toward the guess limit of their source (deviceIP, or the caller's IP when
// the app sent none); past the limit they are answered rate_limited. A token
// with a valid mac is never refused by the limiter (see guess.go).
func (m *Manager) authenticate(tenantID string, snap *tenants.Snapshot, raw string, meta Meta, deviceIP string, now time.Time, op string) (token, tenants.Key, error) {
	tok, ok := parseToken(raw)
	var key tenants.Key
	if ok {
		key, ok = snap.Key(tok.kid, now)
	}
	if ok && tok.authentic(key.Secret) {
		if key.State != tenants.KeyActive && key.State != tenants.KeyRetiring {
			m.record(tenantID, events.VerifyRejected, "", sessionID(tok.bucket, tok.nonce), meta, map[string]string{"reason": "retired_key", "op": op})
			return token{}, tenants.Key{}, errSessionInvalid()
		}
		return tok, key, nil
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
				"source": string(source), "limit_per_minute": strconv.Itoa(limit), "refused": strconv.Itoa(n),
			})
		}
		return token{}, tenants.Key{}, fault.New(fault.RateLimited, "too many forged session tokens from this %s; try again later", source)
	}
	m.record(tenantID, events.VerifyRejected, "", "", meta, map[string]string{"reason": "forged", "op": op})
	return token{}, tenants.Key{}, errSessionInvalid()
}

// expired records a session's expiry (found by verify or regenerate) and
// returns its error. status is "expired_idle" or "expired_absolute".
func (m *Manager) expired(tenantID, uid, sid, status string, meta Meta, op string) error {
	m.record(tenantID, events.SessionExpired, uid, sid, meta, map[string]string{"reason": strings.TrimPrefix(status, "expired_")})
	m.record(tenantID, events.VerifyRejected, uid, sid, meta, map[string]string{"reason": status, "op": op})
	if status == "expired_idle" {
		return fault.New(fault.SessionExpiredIdle, "the session expired after inactivity")
	}
	return fault.New(fault.SessionExpiredAbsolute, "the session reached its maximum lifetime")
}

func errSessionInvalid() error {
	return fault.New(fault.SessionInvalid, "the session token is invalid, revoked or unknown")
}

// bindingMode maps a policy mode to the script's argument; anything but
// report and enforce is off.
func bindingMode(b tenants.BindingMode) string {
	switch b {
	case tenants.BindingReport, tenants.BindingEnforce:
		return string(b)
	}
	return "off"
}
