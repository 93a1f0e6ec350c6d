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
// tenant policy's. It is also the body of POST /v1/sessions, as
// api/openapi.yaml (SessionCreate) describes and validates it.
type CreateParams struct {
	UserID          string          `json:"user_id"`
	Data            json.RawMessage `json:"data"`
	Device          Device          `json:"device"`
	IdleTimeout     *int            `json:"idle_timeout"`
	AbsoluteTimeout *int            `json:"absolute_timeout"`
	// AMR are the methods the user proved to log in (RFC 8176 values); they
	// need a UserID.
	AMR []string `json:"amr"`
	// Remember makes a remember-me session: it lives by the policy's
	// remember_me lifetime (which the tenant must have).
	Remember bool `json:"remember"`
	// Actor makes an impersonated session: the actor holds it as UserID.
	// It lives by the policy's impersonation lifetime, never counts toward
	// the user's cap, and names its actor in every answer and event.
	Actor *Actor `json:"actor"`
}

// impersonator adds an impersonated session's actor ("type:id") to an
// event's detail, as impersonator (the event's own actor is the caller),
// and returns detail.
func impersonator(detail map[string]string, rec Record) map[string]string {
	return withImpersonator(detail, rec.Actor)
}

// withImpersonator is impersonator for an actor given apart ("" none);
// detail may be nil.
func withImpersonator(detail map[string]string, actor string) map[string]string {
	if actor == "" {
		return detail
	}
	if detail == nil {
		detail = map[string]string{}
	}
	detail["impersonator"] = actor
	return detail
}

// MaxActing is how many live impersonated sessions one user may have; a
// new one evicts the oldest beyond it.
const MaxActing = 10

// Actor types.
var actorTypes = map[string]bool{"admin": true, "support": true, "service": true}

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
// a max_sessions_per_user cap, it evicts the user's oldest live sessions
// (evict_oldest; each evicted id is reported by exactly one call) or refuses
// (reject), dead sessions not counting: exactly for a user with up to 128
// sessions on record, within the bound Store.Create states beyond.
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
	add, err := factorList("amr", p.AMR)
	if err != nil {
		return Created{}, err
	}
	if add != "" && p.UserID == "" {
		return Created{}, fault.Invalid("amr", "needs user_id: an anonymous session has no factors")
	}
	pol := snap.Policy
	prof := ProfileStandard
	actor := ""
	switch {
	case p.Actor != nil && p.Remember:
		return Created{}, fault.Invalid("remember", "an impersonated session (actor) cannot be remembered")
	case p.Actor != nil:
		if p.UserID == "" {
			return Created{}, fault.Invalid("actor", "needs user_id: the user acted as")
		}
		if !actorTypes[p.Actor.Type] {
			return Created{}, fault.Invalid("actor.type", "must be admin, support or service")
		}
		if !ValidUserID(p.Actor.ID) {
			return Created{}, invalidUserID("actor.id")
		}
		prof, actor = ProfileImpersonation, p.Actor.Type+":"+p.Actor.ID
	case p.Remember:
		if pol.RememberMe.IsZero() {
			return Created{}, fault.Invalid("remember", "the tenant policy has no remember_me lifetime")
		}
		prof = ProfileRememberMe
	}
	idle, abs, err := newTimeouts(TimeoutsOf(pol), prof, p.IdleTimeout, p.AbsoluteTimeout)
	if err != nil {
		return Created{}, err
	}
	data, err := normalizeData(p.Data, pol.MaxDataBytes)
	if err != nil {
		return Created{}, err
	}
	dev, ipBinding, err := m.device(p.Device)
	if err != nil {
		return Created{}, err
	}
	meta.Device = dev
	key, err := activeKey(snap)
	if err != nil {
		return Created{}, err
	}
	bucket := randomBucket()
	if p.UserID != "" {
		bucket = userBucket(tenantID, p.UserID)
	}
	nonce := secrets.Random(nonceSize)
	ref := Ref{TenantID: tenantID, Bucket: bucket, ID: sessionID(bucket, nonce)}
	now := ms(m.now())
	rec := startRecord(Record{
		UserID: p.UserID, UserAgent: dev.UserAgent, IP: dev.IP, IPBinding: ipBinding, Label: dev.Label,
		Data: data, Version: 1, KeyID: key.ID,
	}, now, idle, abs)
	rec.Factors = AddFactors("", add, now, now)
	rec.Profile, rec.Actor = prof, actor
	evicted, err := m.insert(ctx, ref, rec, pol, now, meta)
	if err != nil {
		return Created{}, err
	}
	var detail map[string]string // nil unless the session has something to say
	if add != "" || prof != ProfileStandard {
		detail = map[string]string{}
	}
	if add != "" {
		detail["amr"], detail["aal"] = methodsOf(add), strconv.Itoa(AAL(rec.Factors))
	}
	if prof != ProfileStandard {
		detail["profile"] = profileNames[prof]
	}
	detail = impersonator(detail, rec)
	m.record(tenantID, events.SessionCreated, p.UserID, ref.ID, meta, detail)
	return Created{
		Token:     signToken(key.ID, key.Secret, bucket, nonce),
		CSRFToken: csrfToken(nonce),
		Session:   view(ref.ID, rec),
		Evicted:   evicted,
	}, nil
}

// insert stores rec as session ref under the user's cap, and records one
// session.evicted event per evicted id. Errors: fault.SessionLimitReached,
// fault.Internal (an id collision), fault.Unavailable.
func (m *Manager) insert(ctx context.Context, ref Ref, rec Record, pol tenants.Policy, now int64, meta Meta) ([]string, error) {
	res, err := m.store.Create(ctx, CreateCall{Ref: ref, Record: rec, Cap: CapOf(pol), Timeouts: TimeoutsOf(pol), Now: now})
	if err != nil {
		return nil, err
	}
	switch res.Status {
	case StatusOK:
		m.recordEvicted(ref.TenantID, rec.UserID, res.Evicted, ref.ID, meta)
		if err := m.changes.SessionsEnded(ctx, ref.TenantID, res.Evicted, ChangeEvicted); err != nil {
			return nil, err
		}
		return res.Evicted, nil
	case StatusLimit:
		m.record(ref.TenantID, events.SessionLimitRejected, rec.UserID, "", meta,
			map[string]string{"max_sessions_per_user": strconv.Itoa(pol.MaxSessionsPerUser)})
		return nil, errLimit(pol)
	case StatusExists:
		return nil, fault.Wrap(errors.New("session id collision"), fault.Internal, "could not create a session")
	}
	return nil, unexpected(res.Status)
}

func errLimit(pol tenants.Policy) error {
	return fault.New(fault.SessionLimitReached, "the user already has the maximum number of sessions (%d)", pol.MaxSessionsPerUser)
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

// normalizeData checks that data is a JSON object of at most maxBytes once
// compacted, and returns it compacted. Absent or null data is "{}".
func normalizeData(data json.RawMessage, maxBytes int) (string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return "{}", nil
	}
	if trimmed[0] != '{' {
		return "", fault.Invalid("data", "must be a JSON object")
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(trimmed)))
	if err := json.Compact(buf, trimmed); err != nil { // which checks it is valid JSON
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
