package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// CreateParams is a request for a new session. UserID "" makes an anonymous
// session. IdleTimeout and AbsoluteTimeout (seconds) may only shorten the
// tenant policy's.
type CreateParams struct {
	UserID          string
	Data            json.RawMessage
	Device          Device
	IdleTimeout     *int
	AbsoluteTimeout *int
}

// Created is a new session and the credentials the app hands its user.
// Evicted lists the sessions ended to respect the per-user cap (never nil).
type Created struct {
	Token     string   `json:"token"`
	CSRFToken string   `json:"csrf_token"`
	Session   Session  `json:"session"`
	Evicted   []string `json:"evicted"`
}

// Create starts a session in one atomic Redis round trip. A session created
// for a user is a login: its auth_time is its creation. With a user id and
// a max_sessions_per_user cap, it first drops the user's dead sessions, then
// evicts the oldest live ones (evict_oldest; each evicted id is reported by
// exactly one call) or refuses (reject).
//
// Errors: fault.Forbidden (unknown or suspended tenant), fault.InvalidRequest
// (user_id, data not a JSON object, a timeout longer than the policy's or
// under 1 s, device), fault.PayloadTooLarge (data over max_data_bytes),
// fault.SessionLimitReached (cap reached under reject), fault.Unavailable.
func (m *Manager) Create(ctx context.Context, tenantID string, p CreateParams, meta Meta) (Created, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return Created{}, err
	}
	if p.UserID != "" && !ValidUserID(p.UserID) {
		return Created{}, invalidUserID("user_id")
	}
	pol := snap.Policy
	idle, abs, err := timeouts(pol, p.IdleTimeout, p.AbsoluteTimeout)
	if err != nil {
		return Created{}, err
	}
	data, err := normalizeData(p.Data, pol.MaxDataBytes)
	if err != nil {
		return Created{}, err
	}
	dev, ipn, err := m.device(p.Device)
	if err != nil {
		return Created{}, err
	}
	key, err := activeKey(snap)
	if err != nil {
		return Created{}, err
	}
	bucket := randomBucket()
	if p.UserID != "" {
		bucket = userBucket(tenantID, p.UserID)
	}
	nonce := secrets.Random(nonceSize)
	sid := sessionID(bucket, nonce)
	now := ms(m.now())
	exp := now + int64(abs)*1000
	rec := record{
		uid: p.UserID, ca: now, at: authTimeOf(p.UserID, now), ls: now, exp: exp, idle: int64(idle), iexp: min(now+int64(idle)*1000, exp),
		ua: dev.UserAgent, ip: dev.IP, ipn: ipn, lbl: dev.Label, data: data, ver: 1, kid: key.ID,
	}
	evicted, err := m.insert(ctx, tenantID, bucket, sid, rec, pol, now, meta)
	if err != nil {
		return Created{}, err
	}
	m.record(tenantID, events.SessionCreated, p.UserID, sid, meta, nil)
	return Created{
		Token:     signToken(key.ID, key.Secret, bucket, nonce),
		CSRFToken: csrfToken(nonce),
		Session:   rec.session(sid),
		Evicted:   evicted,
	}, nil
}

// insert stores rec as session sid with the create script, enforcing the
// user's cap, and records one session.evicted event per evicted id.
func (m *Manager) insert(ctx context.Context, tenantID string, bucket int, sid string, rec record, pol tenants.Policy, now int64, meta Meta) ([]string, error) {
	ks := m.keys(tenantID, bucket)
	keys := []string{ks.session(sid), ks.index()}
	if rec.uid != "" {
		keys = append(keys, ks.user(rec.uid))
	}
	args := append([]any{now, sid, rec.uid, pol.MaxSessionsPerUser, string(pol.OnLimit), rec.ca, rec.exp, rec.iexp}, rec.fields()...)
	res, err := m.run(ctx, createScript, keys, args...)
	if err != nil {
		return nil, err
	}
	switch str(res[0]) {
	case "ok":
		evicted := strList(res[1])
		m.recordEvicted(tenantID, rec.uid, evicted, sid, meta)
		return evicted, nil
	case "limit":
		m.record(tenantID, events.SessionLimitRejected, rec.uid, "", meta,
			map[string]string{"max_sessions_per_user": strconv.Itoa(pol.MaxSessionsPerUser)})
		return nil, fault.New(fault.SessionLimitReached, "the user already has the maximum number of sessions (%d)", pol.MaxSessionsPerUser)
	default:
		return nil, fault.Wrap(errors.New("session id collision"), fault.Internal, "could not create a session")
	}
}

func (m *Manager) recordEvicted(tenantID, userID string, evicted []string, bySession string, meta Meta) {
	for _, id := range evicted {
		m.record(tenantID, events.SessionEvicted, userID, id, meta, map[string]string{"replaced_by": bySession})
	}
}

// activeKey returns the tenant's signing key.
func activeKey(snap *tenants.Snapshot) (tenants.Key, error) {
	key, ok := snap.ActiveKey()
	if !ok || len(key.Secret) == 0 {
		return tenants.Key{}, fault.New(fault.Internal, "the tenant has no active signing key")
	}
	return key, nil
}

// timeouts returns the idle and absolute timeouts (seconds) of a new session:
// the policy's, or the shorter ones requested. The idle timeout never exceeds
// the absolute one.
func timeouts(pol tenants.Policy, idleReq, absReq *int) (int, int, error) {
	var fields []fault.FieldError
	check := func(name string, req *int, limit int) int {
		if req == nil {
			return limit
		}
		switch {
		case *req < 1:
			fields = append(fields, fault.FieldError{Field: name, Message: "must be at least 1 second"})
		case *req > limit:
			fields = append(fields, fault.FieldError{Field: name, Message: "must not exceed the tenant policy's " + strconv.Itoa(limit) + " seconds"})
		}
		return *req
	}
	idle := check("idle_timeout", idleReq, pol.IdleTimeout)
	abs := check("absolute_timeout", absReq, pol.AbsoluteTimeout)
	if len(fields) > 0 {
		return 0, 0, &fault.Error{Code: fault.InvalidRequest, Message: fields[0].Field + ": " + fields[0].Message, Fields: fields}
	}
	return min(idle, abs), abs, nil
}

// normalizeData checks that data is a JSON object of at most maxBytes once
// compacted, and returns it compacted. Absent or null data is "{}".
func normalizeData(data json.RawMessage, maxBytes int) (string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return "{}", nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return "", fault.Invalid("data", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return "", fault.Invalid("data", "must be a JSON object")
	}
	if maxBytes > 0 && buf.Len() > maxBytes {
		return "", fault.New(fault.PayloadTooLarge, "data is %d bytes; the tenant allows %d", buf.Len(), maxBytes)
	}
	return buf.String(), nil
}

func invalidUserID(field string) error {
	return fault.Invalid(field, "must be 1 to 128 characters from A-Z a-z 0-9 . _ @ + | = -, not only dots")
}

// authTimeOf is the auth_time of a new session: creating a session for a
// user is a login, so the user authenticated now; an anonymous session has
// none (0).
func authTimeOf(userID string, now int64) int64 {
	if userID == "" {
		return 0
	}
	return now
}
