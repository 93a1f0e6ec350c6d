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
	c, err := m.createStart(tenantID, snap, p, meta, ms(m.now()))
	if err != nil {
		return Created{}, err
	}
	evicted, err := m.insert(ctx, c.ref, c.rec, c.pol, c.now, c.meta)
	if err != nil {
		return Created{}, err
	}
	return m.createEnd(&c, evicted), nil
}

// CreateOutcome is one item's answer of CreateBatch: Err, or else Created.
type CreateOutcome struct {
	Created Created
	Err     error
}

// CreateBatch creates a session for each of items as Create would and
// answers out[i] for items[i]: every item gets every check, the user's cap
// and the events of Create, and its own outcome (a refused item refuses no
// other). The items are applied in their order: an item sees the sessions
// of its user the items before it created or evicted, as a Create made
// after theirs would. The items that reach the store are stored in one
// store call (Store.CreateBatch: one pipelined Redis round trip) instead of
// one each, and their evictions published in one change; items refused
// before the store (invalid) cost no store call at all. All items are
// created at one instant of the clock.
//
// admit, when not nil, is asked before each item, with how many items
// before it reached the store: an error refuses the item with that error,
// before any check of its own (the API's live_sessions ceiling).
//
// Errors, for the whole call (then no outcome is given, although the store
// may have applied some items): fault.Forbidden (unknown or suspended
// tenant), fault.Unavailable, fault.Internal. Each item's Err is one of
// Create's, or admit's.
func (m *Manager) CreateBatch(ctx context.Context, tenantID string, items []CreateParams, meta Meta, admit func(started int) error) ([]CreateOutcome, error) {
	snap, err := m.tenant(tenantID)
	if err != nil {
		return nil, err
	}
	now := ms(m.now())
	out := make([]CreateOutcome, len(items))
	started := make([]createStarted, 0, len(items))
	at := make([]int, 0, len(items)) // started[j] is items[at[j]]
	for i, p := range items {
		if admit != nil {
			if out[i].Err = admit(len(started)); out[i].Err != nil {
				continue
			}
		}
		c, err := m.createStart(tenantID, snap, p, meta, now)
		if err != nil {
			out[i].Err = err
			continue
		}
		started = append(started, c)
		at = append(at, i)
	}
	if len(started) == 0 {
		return out, nil
	}
	res, err := sendBatch(ctx, started, (*createStarted).call, m.store.CreateBatch)
	if err != nil {
		return nil, err
	}
	var ended []string
	for j := range started {
		c, o := &started[j], &out[at[j]]
		evicted, err := m.inserted(c.ref, c.rec, c.pol, c.meta, res[j])
		if err != nil {
			o.Err = err
			continue
		}
		o.Created = m.createEnd(c, evicted)
		ended = append(ended, evicted...)
	}
	if err := m.changes.SessionsEnded(ctx, tenantID, ended, ChangeEvicted); err != nil {
		return nil, err
	}
	return out, nil
}

// createStarted is a create whose request is checked and whose record is
// ready: what the store call and createEnd need.
type createStarted struct {
	ref   Ref
	rec   Record
	pol   tenants.Policy
	now   int64
	meta  Meta // with the device of the request
	key   tenants.Key
	nonce []byte
	add   string // the factors proved, "method:kind,…"
}

// call is c's store call.
func (c *createStarted) call() CreateCall {
	return CreateCall{Ref: c.ref, Record: c.rec, Cap: CapOf(c.pol), Timeouts: TimeoutsOf(c.pol), Now: c.now}
}

// createStart runs a create's steps before the store, at now (Unix ms):
// the checks of p against the policy, the device, the signing key, and the
// new session's id and record. Its errors are Create's, but for
// fault.Unavailable, fault.Forbidden and fault.SessionLimitReached.
func (m *Manager) createStart(tenantID string, snap *tenants.Snapshot, p CreateParams, meta Meta, now int64) (createStarted, error) {
	if p.UserID != "" && !ValidUserID(p.UserID) {
		return createStarted{}, invalidUserID("user_id")
	}
	add, err := factorList("amr", p.AMR)
	if err != nil {
		return createStarted{}, err
	}
	if add != "" && p.UserID == "" {
		return createStarted{}, fault.Invalid("amr", "needs user_id: an anonymous session has no factors")
	}
	pol := snap.Policy
	prof := ProfileStandard
	actor := ""
	switch {
	case p.Actor != nil && p.Remember:
		return createStarted{}, fault.Invalid("remember", "an impersonated session (actor) cannot be remembered")
	case p.Actor != nil:
		if p.UserID == "" {
			return createStarted{}, fault.Invalid("actor", "needs user_id: the user acted as")
		}
		if !actorTypes[p.Actor.Type] {
			return createStarted{}, fault.Invalid("actor.type", "must be admin, support or service")
		}
		if !ValidUserID(p.Actor.ID) {
			return createStarted{}, invalidUserID("actor.id")
		}
		prof, actor = ProfileImpersonation, p.Actor.Type+":"+p.Actor.ID
	case p.Remember:
		if pol.RememberMe.IsZero() {
			return createStarted{}, fault.Invalid("remember", "the tenant policy has no remember_me lifetime")
		}
		prof = ProfileRememberMe
	}
	idle, abs, err := newTimeouts(TimeoutsOf(pol), prof, p.IdleTimeout, p.AbsoluteTimeout)
	if err != nil {
		return createStarted{}, err
	}
	data, err := normalizeData(p.Data, pol.MaxDataBytes)
	if err != nil {
		return createStarted{}, err
	}
	dev, ipBinding, err := m.device(p.Device)
	if err != nil {
		return createStarted{}, err
	}
	meta.Device = dev
	key, err := activeKey(snap)
	if err != nil {
		return createStarted{}, err
	}
	bucket := randomBucket()
	if p.UserID != "" {
		bucket = userBucket(tenantID, p.UserID)
	}
	nonce := secrets.Random(nonceSize)
	ref := Ref{TenantID: tenantID, Bucket: bucket, ID: sessionID(bucket, nonce)}
	rec := startRecord(Record{
		UserID: p.UserID, UserAgent: dev.UserAgent, IP: dev.IP, IPBinding: ipBinding, Label: dev.Label,
		Data: data, Version: 1, KeyID: key.ID,
	}, now, idle, abs)
	rec.Factors = AddFactors("", add, now, now)
	rec.Profile, rec.Actor = prof, actor
	return createStarted{ref: ref, rec: rec, pol: pol, now: now, meta: meta, key: key, nonce: nonce, add: add}, nil
}

// createEnd answers the create c, which the store made, evicting evicted:
// its session.created event and the new session's credentials.
func (m *Manager) createEnd(c *createStarted, evicted []string) Created {
	rec, prof := c.rec, c.rec.Profile
	var detail map[string]string // nil unless the session has something to say
	if c.add != "" || prof != ProfileStandard {
		detail = map[string]string{}
	}
	if c.add != "" {
		detail["amr"], detail["aal"] = methodsOf(c.add), strconv.Itoa(AAL(rec.Factors))
	}
	if prof != ProfileStandard {
		detail["profile"] = profileNames[prof]
	}
	detail = impersonator(detail, rec)
	m.record(c.ref.TenantID, events.SessionCreated, rec.UserID, c.ref.ID, c.meta, detail)
	return Created{
		Token:     signToken(c.key.ID, c.key.Secret, c.ref.Bucket, c.nonce),
		CSRFToken: csrfToken(c.nonce),
		Session:   view(c.ref.ID, rec),
		Evicted:   evicted,
	}
}

// insert stores rec as session ref under the user's cap, and records one
// session.evicted event per evicted id. Errors: fault.SessionLimitReached,
// fault.Internal (an id collision), fault.Unavailable.
func (m *Manager) insert(ctx context.Context, ref Ref, rec Record, pol tenants.Policy, now int64, meta Meta) ([]string, error) {
	res, err := m.store.Create(ctx, CreateCall{Ref: ref, Record: rec, Cap: CapOf(pol), Timeouts: TimeoutsOf(pol), Now: now})
	if err != nil {
		return nil, err
	}
	evicted, err := m.inserted(ref, rec, pol, meta, res)
	if err != nil {
		return nil, err
	}
	if err := m.changes.SessionsEnded(ctx, ref.TenantID, evicted, ChangeEvicted); err != nil {
		return nil, err
	}
	return evicted, nil
}

// inserted reads the store's answer res to the create of rec as ref: the
// evicted ids, each with its session.evicted event, or the refusal with
// its event. The caller publishes the evictions (ChangeLog).
func (m *Manager) inserted(ref Ref, rec Record, pol tenants.Policy, meta Meta, res CreateResult) ([]string, error) {
	switch res.Status {
	case StatusOK:
		m.recordEvicted(ref.TenantID, rec.UserID, res.Evicted, ref.ID, meta)
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
