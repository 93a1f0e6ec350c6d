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
// session's user and its auth_time; Reauthenticated sets auth_time.
type RegenerateParams struct {
	Token           string
	UserID          *string
	Reauthenticated bool
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
	now := m.now()
	tok, _, err := m.authenticate(tenantID, snap, p.Token, meta, "", now, "regenerate")
	if err != nil {
		return Created{}, err
	}
	key, err := activeKey(snap)
	if err != nil {
		return Created{}, err
	}
	r := regeneration{
		tenantID: tenantID, pol: snap.Policy, meta: meta, now: ms(now), kid: key.ID,
		oldBucket: tok.bucket, oldSID: sessionID(tok.bucket, tok.nonce), bucket: tok.bucket,
		setAuth: p.UserID != nil || p.Reauthenticated,
	}
	if p.UserID != nil {
		r.uid = *p.UserID
		r.bucket = userBucket(tenantID, r.uid)
	}
	nonce := secrets.Random(nonceSize)
	r.newSID = sessionID(r.bucket, nonce)

	var rec record
	var evicted []string
	if r.bucket == r.oldBucket {
		rec, evicted, err = m.regenerateInBucket(ctx, r)
	} else {
		rec, evicted, err = m.regenerateAcrossBuckets(ctx, r)
	}
	if err != nil {
		return Created{}, err
	}
	detail := map[string]string{"previous_session_id": r.oldSID}
	switch {
	case p.UserID != nil:
		detail["reason"] = "login"
	case p.Reauthenticated:
		detail["reason"] = "reauthenticated"
	}
	m.record(tenantID, events.SessionRegenerated, rec.uid, r.newSID, meta, detail)
	return Created{
		Token:     signToken(key.ID, key.Secret, r.bucket, nonce),
		CSRFToken: csrfToken(nonce),
		Session:   rec.session(r.newSID),
		Evicted:   evicted,
	}, nil
}

// regeneration is one regenerate in progress.
type regeneration struct {
	tenantID          string
	pol               tenants.Policy
	meta              Meta
	now               int64
	kid               string
	oldBucket, bucket int
	oldSID, newSID    string
	uid               string // the new user; "" keeps the session's
	setAuth           bool
}

// regenerateInBucket swaps the sessions with one script.
func (m *Manager) regenerateInBucket(ctx context.Context, r regeneration) (record, []string, error) {
	ks := m.keys(r.tenantID, r.bucket)
	keys := []string{ks.session(r.oldSID), ks.session(r.newSID), ks.index()}
	if r.uid != "" {
		keys = append(keys, ks.user(r.uid))
	}
	setAuth := "0"
	if r.setAuth {
		setAuth = "1"
	}
	res, err := m.run(ctx, regenerateScript, keys,
		r.now, r.oldSID, r.newSID, r.uid, setAuth, r.kid, r.pol.MaxSessionsPerUser, string(r.pol.OnLimit),
		r.pol.IdleTimeout, r.pol.AbsoluteTimeout)
	if err != nil {
		return record{}, nil, err
	}
	status := str(res[0])
	switch status {
	case "ok":
		rec, _ := parseRecord(strList(res[1]))
		evicted := strList(res[2])
		m.recordEvicted(r.tenantID, rec.uid, evicted, r.newSID, r.meta)
		return rec, evicted, nil
	case "missing":
		return record{}, nil, m.unknownSession(r)
	case "expired_idle", "expired_absolute":
		return record{}, nil, m.expired(r.tenantID, str(res[1]), r.oldSID, status, r.meta, "regenerate")
	case "limit":
		uid := r.uid
		if uid == "" {
			uid = str(res[1])
		}
		m.record(r.tenantID, events.SessionLimitRejected, uid, r.oldSID, r.meta,
			map[string]string{"max_sessions_per_user": strconv.Itoa(r.pol.MaxSessionsPerUser)})
		return record{}, nil, fault.New(fault.SessionLimitReached, "the user already has the maximum number of sessions (%d)", r.pol.MaxSessionsPerUser)
	}
	return record{}, nil, fault.New(fault.Internal, "session store returned an unexpected reply")
}

// regenerateAcrossBuckets claims the old session in its slot, then creates
// the new one in the user's slot.
func (m *Manager) regenerateAcrossBuckets(ctx context.Context, r regeneration) (record, []string, error) {
	oks := m.keys(r.tenantID, r.oldBucket)
	res, err := m.run(ctx, claimScript, []string{oks.session(r.oldSID), oks.index()}, r.now, r.oldSID,
		r.pol.IdleTimeout, r.pol.AbsoluteTimeout)
	if err != nil {
		return record{}, nil, err
	}
	status := str(res[0])
	switch status {
	case "ok":
	case "missing":
		return record{}, nil, m.unknownSession(r)
	case "expired_idle", "expired_absolute":
		return record{}, nil, m.expired(r.tenantID, str(res[1]), r.oldSID, status, r.meta, "regenerate")
	default:
		return record{}, nil, fault.New(fault.Internal, "session store returned an unexpected reply")
	}
	rec, _ := parseRecord(strList(res[1]))
	oldUID := rec.uid
	if r.uid != oldUID { // a login: a fresh lifetime (as in regenerate.lua)
		rec.ca = r.now
		rec.exp = r.now + int64(r.pol.AbsoluteTimeout)*1000
	}
	rec.uid = r.uid
	if r.setAuth {
		rec.at = r.now
	}
	rec.ls = r.now
	rec.iexp = min(r.now+rec.idle*1000, rec.exp)
	rec.kid = r.kid
	evicted, err := m.insert(ctx, r.tenantID, r.bucket, r.newSID, rec, r.pol, r.now, r.meta)
	if err != nil {
		// The old session is gone (documented on Regenerate); say so.
		m.record(r.tenantID, events.SessionRevoked, oldUID, r.oldSID, r.meta, map[string]string{"reason": "regenerate_failed"})
		return record{}, nil, err
	}
	return rec, evicted, nil
}

// unknownSession handles a well-signed token whose session does not exist.
func (m *Manager) unknownSession(r regeneration) error {
	m.record(r.tenantID, events.VerifyRejected, "", r.oldSID, r.meta, map[string]string{"reason": "unknown", "op": "regenerate"})
	return errSessionInvalid()
}
