package sessions

import (
	"context"
	"strconv"

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
	m.record(tenantID, events.SessionRevoked, res.UserID, id, meta, nil)
	return nil
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
	tok, _, err := m.authenticate(tenantID, snap, token, meta, "", m.now(), "revoke")
	switch {
	case fault.Is(err, fault.SessionInvalid):
		return nil
	case err != nil:
		return err
	}
	ref := Ref{TenantID: tenantID, Bucket: tok.bucket, ID: sessionID(tok.bucket, tok.nonce)}
	res, err := m.store.Revoke(ctx, ref)
	if err != nil {
		return err
	}
	if res.Status == StatusOK {
		m.record(tenantID, events.SessionRevoked, res.UserID, ref.ID, meta, map[string]string{"reason": "logout"})
	}
	return nil
}

// RevokeUser ends every session of userID except exceptID ("" for none) in
// one store round trip (one script in the user's slot), and returns the ids
// it ended (those that were still live). With exceptID it records
// session.others_revoked, without it session.user_revoked, and
// session.revoked for each id.
//
// Errors: fault.Forbidden, fault.InvalidRequest (malformed user or session
// id), fault.NotFound (exceptID is not a live session of userID; nothing is
// revoked then), fault.Unavailable.
func (m *Manager) RevokeUser(ctx context.Context, tenantID, userID, exceptID string, meta Meta) ([]string, error) {
	if _, err := m.tenant(tenantID); err != nil {
		return nil, err
	}
	if !ValidUserID(userID) {
		return nil, invalidUserID("user_id")
	}
	if exceptID != "" {
		if err := checkSessionID("except", exceptID); err != nil {
			return nil, err
		}
	}
	bucket := userBucket(tenantID, userID)
	if exceptID != "" && BucketOf(exceptID) != bucket {
		return nil, fault.New(fault.NotFound, "except: no such session of this user")
	}
	res, err := m.store.RevokeUser(ctx, RevokeUserCall{TenantID: tenantID, Bucket: bucket, UserID: userID, Except: exceptID, Now: ms(m.now())})
	if err != nil {
		return nil, err
	}
	if res.Status != StatusOK {
		return nil, fault.New(fault.NotFound, "except: no such session of this user")
	}
	revoked := res.Revoked
	reason := string(events.UserLoggedOut)
	if exceptID != "" {
		reason = string(events.OtherDevicesLoggedOut)
	}
	for _, id := range revoked {
		m.record(tenantID, events.SessionRevoked, userID, id, meta, map[string]string{"reason": reason})
	}
	detail := map[string]string{"count": strconv.Itoa(len(revoked))}
	if exceptID != "" {
		m.record(tenantID, events.OtherDevicesLoggedOut, userID, exceptID, meta, detail)
	} else {
		m.record(tenantID, events.UserLoggedOut, userID, "", meta, detail)
	}
	return revoked, nil
}

// checkSessionID rejects anything that is not a session id, in particular
// any string with '{', '}', ':' or '*'.
func checkSessionID(field, id string) error {
	if !ValidSessionID(id) {
		return fault.Invalid(field, "is not a session id")
	}
	return nil
}

func errSessionNotFound() error { return fault.New(fault.NotFound, "no such session") }
