package sessions

import (
	"context"
	"strconv"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// RegenerateParams is a regenerate request. UserID (login) sets the
// session's user and its auth_time; Reauthenticated sets auth_time. It is
// also the body of POST /v1/sessions/regenerate (SessionRegenerate in
// api/openapi.yaml).
type RegenerateParams struct {
	Token           string  `json:"token"`
	UserID          *string `json:"user_id"`
	Reauthenticated bool    `json:"reauthenticated"`
	// AMR are the methods the user proved for this login or
	// re-authentication (RFC 8176 values): with UserID they are the new
	// session's only factors, with Reauthenticated they are added to the
	// session's (a method it had gets the new time).
	AMR []string `json:"amr"`
	// Remember makes the login (UserID) a remember-me session, living by
	// the policy's remember_me lifetime.
	Remember bool `json:"remember"`
}

// Regenerate replaces the session of p.Token by a new one with a new token,
// id and CSRF token, and ends the old one at once; of concurrent regenerates
// of one token exactly one succeeds. The new session keeps the data and the
// device; its idle deadline restarts from now. A regenerate that changes the
// user (a login) starts a fresh lifetime: created_at is now and the absolute
// deadline now + the policy's absolute timeout. Any other keeps created_at
// and the absolute deadline, never extended.
//
// A policy tightened since the session began applies to the new session,
// as it does at verify.
//
// One Redis round trip when the session stays in its bucket (no user change,
// or a user whose bucket is the same). When the user moves it to another
// bucket (typically anonymous → user at login) it takes two: the old session
// is claimed and deleted, then the new one is created under the user's cap.
// If that create is refused (session_limit_reached under reject), the old
// session is already gone and the user has no session: log in again after
// logging out elsewhere. In the one-round-trip case a refusal leaves the old
// session intact.
//
// Errors: fault.Forbidden, fault.RateLimited, fault.InvalidRequest (user_id),
// fault.SessionInvalid (bad token, unknown session, lost a concurrent
// regenerate), fault.SessionExpiredIdle, fault.SessionExpiredAbsolute,
// fault.SessionLimitReached, fault.Unavailable.
func (m *Manager) Regenerate(ctx context.Context, tenantID string, p RegenerateParams, meta Meta) (Created, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return Created{}, err
	}
	if p.UserID != nil && !ValidUserID(*p.UserID) {
		return Created{}, invalidUserID("user_id")
	}
	add, err := factorList("amr", p.AMR)
	if err != nil {
		return Created{}, err
	}
	if add != "" && p.UserID == nil && !p.Reauthenticated {
		return Created{}, fault.Invalid("amr", "needs user_id (a login) or reauthenticated: true")
	}
	if p.Remember && p.UserID == nil {
		return Created{}, fault.Invalid("remember", "needs user_id: only a login starts a remember-me session")
	}
	if p.Remember && snap.Policy.RememberMe.IsZero() {
		return Created{}, fault.Invalid("remember", "the tenant policy has no remember_me lifetime")
	}
	now := m.now()
	a, err := m.authenticate(tenantID, snap, p.Token, meta, "", now, "regenerate")
	if err != nil {
		return Created{}, err
	}
	tok, snap := a.tok, a.snap
	key, err := activeKey(snap)
	if err != nil {
		return Created{}, err
	}
	old := Ref{TenantID: tenantID, Bucket: tok.bucket, ID: sessionID(tok.bucket, tok.nonce)}
	r := regeneration{
		pol: snap.Policy, meta: meta, now: ms(now), kid: key.ID, old: old, newRef: old,
		setAuth: p.UserID != nil || p.Reauthenticated, add: add, remember: p.Remember,
	}
	if p.UserID != nil {
		r.uid = *p.UserID
		r.newRef.Bucket = userBucket(tenantID, r.uid)
	}
	nonce := secrets.Random(nonceSize)
	r.newRef.ID = sessionID(r.newRef.Bucket, nonce)

	var rec Record
	var evicted []string
	if r.newRef.Bucket == old.Bucket {
		rec, evicted, err = m.regenerateInBucket(ctx, r)
	} else {
		rec, evicted, err = m.regenerateAcrossBuckets(ctx, r)
	}
	if err != nil {
		return Created{}, err
	}
	detail := map[string]string{"previous_session_id": old.ID}
	switch {
	case p.UserID != nil:
		detail["reason"] = "login"
	case p.Reauthenticated:
		detail["reason"] = "reauthenticated"
	}
	if len(p.AMR) > 0 {
		detail["amr"] = methodsOf(add)
		detail["aal"] = strconv.Itoa(AAL(rec.Factors))
	}
	impersonator(detail, rec)
	m.record(tenantID, events.SessionRegenerated, rec.UserID, r.newRef.ID, meta, detail)
	if p.UserID == nil && add != "" {
		m.record(tenantID, events.SessionSteppedUp, rec.UserID, r.newRef.ID, meta, impersonator(
			map[string]string{"amr": methodsOf(add), "aal": strconv.Itoa(AAL(rec.Factors)), "previous_session_id": old.ID}, rec))
	}
	if err := m.changes.SessionsEnded(ctx, tenantID, []string{old.ID}, ChangeRegenerated); err != nil {
		return Created{}, err
	}
	return Created{
		Token:     signToken(key.ID, key.Secret, r.newRef.Bucket, nonce),
		CSRFToken: csrfToken(nonce),
		Session:   view(r.newRef.ID, rec),
		Evicted:   evicted,
	}, nil
}

// regeneration is one regenerate in progress.
type regeneration struct {
	pol         tenants.Policy
	meta        Meta
	now         int64
	kid         string
	old, newRef Ref
	uid         string // the new user; "" keeps the session's
	setAuth     bool
	add         string // factors proved now, "method:kind,…"
	remember    bool   // a login with remember-me
}

// regenerateInBucket swaps the sessions in one store call.
func (m *Manager) regenerateInBucket(ctx context.Context, r regeneration) (Record, []string, error) {
	res, err := m.store.Regenerate(ctx, RegenerateCall{
		Old: r.old, New: r.newRef, UserID: r.uid, SetAuth: r.setAuth, KeyID: r.kid, AddFactors: r.add, Remember: r.remember,
		Timeouts: TimeoutsOf(r.pol), Cap: CapOf(r.pol), Now: r.now,
	})
	if err != nil {
		return Record{}, nil, err
	}
	switch res.Status {
	case StatusOK:
		m.recordEvicted(r.old.TenantID, res.Record.UserID, res.Evicted, r.newRef.ID, r.meta)
		if err := m.changes.SessionsEnded(ctx, r.old.TenantID, res.Evicted, ChangeEvicted); err != nil {
			return Record{}, nil, err
		}
		return res.Record, res.Evicted, nil
	case StatusMissing:
		return Record{}, nil, m.unknownSession(r)
	case StatusExpiredIdle, StatusExpiredAbsolute:
		return Record{}, nil, m.expired(r.old.TenantID, res.UserID, res.Actor, r.old.ID, res.Status, r.meta, "regenerate")
	case StatusLimit:
		uid := r.uid
		if uid == "" {
			uid = res.UserID
		}
		m.record(r.old.TenantID, events.SessionLimitRejected, uid, r.old.ID, r.meta,
			map[string]string{"max_sessions_per_user": strconv.Itoa(r.pol.MaxSessionsPerUser)})
		return Record{}, nil, errLimit(r.pol)
	}
	return Record{}, nil, unexpected(res.Status)
}

// regenerateAcrossBuckets claims the old session in its bucket, then
// creates its renewal in the user's.
func (m *Manager) regenerateAcrossBuckets(ctx context.Context, r regeneration) (Record, []string, error) {
	res, err := m.store.Claim(ctx, ClaimCall{Ref: r.old, Timeouts: TimeoutsOf(r.pol), Now: r.now})
	if err != nil {
		return Record{}, nil, err
	}
	switch res.Status {
	case StatusOK:
	case StatusMissing:
		return Record{}, nil, m.unknownSession(r)
	case StatusExpiredIdle, StatusExpiredAbsolute:
		return Record{}, nil, m.expired(r.old.TenantID, res.UserID, res.Actor, r.old.ID, res.Status, r.meta, "regenerate")
	default:
		return Record{}, nil, unexpected(res.Status)
	}
	rec := res.Record.Renew(r.now, r.uid, r.setAuth, TimeoutsOf(r.pol), r.add, r.remember)
	rec.KeyID = r.kid
	evicted, err := m.insert(ctx, r.newRef, rec, r.pol, r.now, r.meta)
	if err != nil {
		// The old session is gone (documented on Regenerate); say so.
		m.record(r.old.TenantID, events.SessionRevoked, res.Record.UserID, r.old.ID, r.meta, map[string]string{"reason": "regenerate_failed"})
		_ = m.changes.SessionsEnded(ctx, r.old.TenantID, []string{r.old.ID}, ChangeRegenerated) // retried in the background on failure
		return Record{}, nil, err
	}
	return rec, evicted, nil
}

// unknownSession handles a well-signed token whose session does not exist.
func (m *Manager) unknownSession(r regeneration) error {
	m.record(r.old.TenantID, events.VerifyRejected, "", r.old.ID, r.meta, map[string]string{"reason": "unknown", "op": "regenerate"})
	return errSessionInvalid()
}
