package sessions

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
)

// Revoke ends session id at once: the store deletes it and every trace of
// it in one round trip, and its token stops verifying. It records session.revoked.
//
// Errors: fault.Forbidden, fault.InvalidRequest (malformed id),
// fault.NotFound (no such session in this tenant), fault.Unavailable.
func (m *Manager) Revoke(ctx context.Context, tenantID, id string, meta Meta) error {
	if _, err := m.tenant(tenantID); err != nil {
		return err
	}
	if err := checkSessionID("id", id); err != nil {
		return err
	}
	res, err := m.store.Revoke(ctx, refOf(tenantID, id))
	if err != nil {
		return err
	}
	if res.Status != StatusOK {
		return errSessionNotFound()
	}
	m.record(tenantID, events.SessionRevoked, res.UserID, id, meta, withImpersonator(nil, res.Actor))
	return m.changes.SessionsEnded(ctx, tenantID, []string{id}, ChangeRevoked)
}

// RevokeToken ends the session that token names (logout in one call), at
// once and completely, and records session.revoked with reason "logout".
// It is idempotent: a session already gone, or a token sessiond did not
// issue, is not an error (there is nothing to end). Forgeries count toward
// the caller's guess limit, as on verify.
//
// Errors: fault.Forbidden, fault.RateLimited, fault.Unavailable.
func (m *Manager) RevokeToken(ctx context.Context, tenantID, token string, meta Meta) error {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return err
	}
	a, err := m.authenticate(tenantID, snap, token, meta, "", m.now(), "revoke")
	switch {
	case fault.Is(err, fault.SessionInvalid):
		return nil
	case err != nil:
		return err
	}
	ref := Ref{TenantID: tenantID, Bucket: a.tok.bucket, ID: sessionID(a.tok.bucket, a.tok.nonce)}
	res, err := m.store.Revoke(ctx, ref)
	if err != nil {
		return err
	}
	if res.Status != StatusOK {
		return nil
	}
	m.record(tenantID, events.SessionRevoked, res.UserID, ref.ID, meta, withImpersonator(map[string]string{"reason": "logout"}, res.Actor))
	return m.changes.SessionsEnded(ctx, tenantID, []string{ref.ID}, ChangeRevoked)
}

// Bulk revocation bounds: RevokeUser ends and itemises at most
// RevokeItemised sessions itself; the rest are ended at once by the store's
// revocation marker and deleted in the background, revokeChunk per store
// call.
const (
	RevokeItemised = 100
	revokeChunk    = 250
)

// Revoked is the outcome of RevokeUser: Count sessions ended, of which IDs
// (at most RevokeItemised, oldest first) are listed.
type Revoked struct {
	IDs   []string
	Count int
}

// RevokeUser ends every session of userID except exceptID ("" for none), at
// once: when it returns, none of them verifies, reads, lists, patches or
// regenerates; sessions created afterwards are not affected. It makes one
// store round trip of bounded work whatever the user holds: up to
// RevokeItemised sessions are deleted and read then, and their ids (of those
// still live) returned; when the user had more, the store marks the rest
// ended in that same step and they are deleted in the background, a bounded
// chunk per call (retried, failures logged), and counted in Count without
// being read (some may already have expired). With exceptID it records
// session.others_revoked, without it session.user_revoked, each with count
// and not_itemised (the sessions ended without an event of their own), and
// session.revoked for each listed id.
//
// Errors: fault.Forbidden, fault.InvalidRequest (malformed user or session
// id), fault.NotFound (exceptID is not a live session of userID; nothing is
// revoked then), fault.Unavailable.
func (m *Manager) RevokeUser(ctx context.Context, tenantID, userID, exceptID string, meta Meta) (Revoked, error) {
	if _, err := m.tenant(tenantID); err != nil {
		return Revoked{}, err
	}
	if !ValidUserID(userID) {
		return Revoked{}, invalidUserID("user_id")
	}
	if exceptID != "" {
		if err := checkSessionID("except", exceptID); err != nil {
			return Revoked{}, err
		}
	}
	bucket := userBucket(tenantID, userID)
	if exceptID != "" && BucketOf(exceptID) != bucket {
		return Revoked{}, fault.New(fault.NotFound, "except: no such session of this user")
	}
	call := RevokeUserCall{TenantID: tenantID, Bucket: bucket, UserID: userID, Except: exceptID, Itemise: RevokeItemised, Now: ms(m.now())}
	res, err := m.store.RevokeUser(ctx, call)
	if err != nil {
		return Revoked{}, err
	}
	if res.Status != StatusOK {
		return Revoked{}, fault.New(fault.NotFound, "except: no such session of this user")
	}
	if res.Left > 0 {
		m.finishRevocation(RevokeChunkCall{TenantID: tenantID, Bucket: bucket, UserID: userID, Max: revokeChunk})
	}
	out := Revoked{IDs: res.Revoked, Count: len(res.Revoked) + int(res.Left)}
	m.recordRevoked(tenantID, userID, exceptID, out, meta)
	if err := m.changes.UserEnded(ctx, tenantID, userID, exceptID); err != nil {
		return Revoked{}, err
	}
	return out, nil
}

// RevokeActing ends every impersonated session of a user (DELETE
// /v1/users/{id}/sessions?actor=any), leaving the user's own sessions, in
// one store call of bounded work (a user has at most MaxActing of them
// live). It returns the ids of those that were live; each gets a
// session.revoked event (reason impersonation_ended) and reaches SDK caches.
func (m *Manager) RevokeActing(ctx context.Context, tenantID, userID string, meta Meta) (Revoked, error) {
	if _, err := m.tenant(tenantID); err != nil {
		return Revoked{}, err
	}
	if !ValidUserID(userID) {
		return Revoked{}, invalidUserID("user_id")
	}
	ended, err := m.store.RevokeActing(ctx, RevokeActingCall{TenantID: tenantID, Bucket: userBucket(tenantID, userID), UserID: userID, Now: ms(m.now())})
	if err != nil {
		return Revoked{}, err
	}
	ids := make([]string, len(ended))
	for i, a := range ended {
		ids[i] = a.ID
		m.record(tenantID, events.SessionRevoked, userID, a.ID, meta, withImpersonator(map[string]string{"reason": "impersonation_ended"}, a.Actor))
	}
	if err := m.changes.SessionsEnded(ctx, tenantID, ids, ChangeRevoked); err != nil {
		return Revoked{}, err
	}
	return Revoked{IDs: ids, Count: len(ids)}, nil
}

// recordRevoked records a bulk revocation's events: one session.revoked per
// listed id, and the summary.
func (m *Manager) recordRevoked(tenantID, userID, exceptID string, r Revoked, meta Meta) {
	reason := string(events.UserLoggedOut)
	if exceptID != "" {
		reason = string(events.OtherDevicesLoggedOut)
	}
	for _, id := range r.IDs {
		m.record(tenantID, events.SessionRevoked, userID, id, meta, map[string]string{"reason": reason})
	}
	detail := map[string]string{"count": strconv.Itoa(r.Count), "not_itemised": strconv.Itoa(r.Count - len(r.IDs))}
	if exceptID != "" {
		m.record(tenantID, events.OtherDevicesLoggedOut, userID, exceptID, meta, detail)
	} else {
		m.record(tenantID, events.UserLoggedOut, userID, "", meta, detail)
	}
}

// finishRevocation deletes, in the background and detached from the
// request, the sessions a revocation marked ended, a chunk per store call
// until none is left. A failing call is retried a few times, then logged;
// the marked sessions stay ended regardless (the marker outlives them), and
// the next revocation of the user resumes the deletion. Wait waits for it.
func (m *Manager) finishRevocation(c RevokeChunkCall) {
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), revocationTimeout)
		defer cancel()
		for {
			res, err := m.revokeChunk(ctx, c)
			if err != nil {
				m.log.Warn("session revocation: deleting ended sessions failed; they stay ended",
					slog.String("tenant_id", c.TenantID), slog.String("error", err.Error()))
				return
			}
			if res.Status != StatusMore {
				return
			}
		}
	}()
}

// revocationTimeout bounds one background revocation.
const revocationTimeout = 10 * time.Minute

// revokeChunk is one RevokeUserChunk call, retried a few times.
func (m *Manager) revokeChunk(ctx context.Context, c RevokeChunkCall) (RevokeChunkResult, error) {
	var err error
	for attempt := range 3 {
		var res RevokeChunkResult
		if res, err = m.store.RevokeUserChunk(ctx, c); err == nil {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return RevokeChunkResult{}, err
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return RevokeChunkResult{}, err
}

// Wait blocks until the background work the Manager started (the deletion
// of sessions a bulk revocation ended) is done.
func (m *Manager) Wait() { m.background.Wait() }

// checkSessionID rejects anything that is not a session id, in particular
// any string with '{', '}', ':' or '*'.
func checkSessionID(field, id string) error {
	if !ValidSessionID(id) {
		return fault.Invalid(field, "is not a session id")
	}
	return nil
}

func errSessionNotFound() error { return fault.New(fault.NotFound, "no such session") }
