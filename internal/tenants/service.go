package tenants

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Service applies the tenant rules: it validates, writes to the Store,
// refreshes this instance's Cache, tells the other instances, and records a
// security event for every change.
type Service struct {
	Store    Store
	Cache    *Cache
	Sealer   *secrets.Sealer
	Notifier Notifier
	Events   events.Recorder
	// Purges runs the session purges that suspending or deleting a tenant
	// stores (optional: without it the jobs wait for another instance's
	// worker). The service only wakes it, and reads its jobs for GetTenant.
	Purges *PurgeWorker
	// EndAdminSessions ends every admin UI session of an admin (they live in
	// the session engine, which tenants does not import).
	EndAdminSessions func(ctx context.Context, adminID string) error
	Log              *slog.Logger
	Now              func() time.Time
	// Admins stores admin accounts (optional for services that never touch
	// them).
	Admins AdminStore
	// Passwords are the argon2id parameters of new password hashes; zero
	// fields take passwords.Default.
	Passwords passwords.Params
	// Changes receives, before a call answers, the tenant changes SDK
	// caches must hear of (internal/changes.Log; nil: none is published).
	Changes ChangeLog

	dummyState
}

// ChangeLog is the changes stream SDK caches follow (internal/changes.Log).
// A change it cannot take at once it keeps and retries in the background,
// and meanwhile ends the tenant's streams on this instance.
type ChangeLog interface {
	// TenantChanged: every cache of the tenant must be dropped; policy,
	// when set, applies from now on; apiKeyID names a revoked API key.
	TenantChanged(ctx context.Context, tenantID, reason string, policy *Policy, apiKeyID string) error
}

// Reasons of TenantChanged.
const (
	ChangePolicy        = "policy"
	ChangeKeyRetired    = "key_retired"
	ChangeKeyRotated    = "key_rotated"
	ChangeSuspended     = "suspended"
	ChangeDeleted       = "deleted"
	ChangeAPIKeyRevoked = "api_key_revoked"
)

// publish sends a tenant change to the changes stream, if there is one.
// Like the notice to other instances (changed), it does not fail the call:
// the write is stored and applied whether or not Redis answers (a tenant
// can be suspended during a Redis outage), and a change the stream could
// not take is retried in the background, this instance's streams of the
// tenant ending until it is in (the Log logs it).
func (s *Service) publish(ctx context.Context, tenantID, reason string, policy *Policy, apiKeyID string) error {
	if s.Changes != nil {
		_ = s.Changes.TenantChanged(ctx, tenantID, reason, policy, apiKeyID)
	}
	return nil
}

// Actor says who made a change, for security events.
type Actor struct {
	Name      string // "operator", "api_key:ak_...", "admin:<email>"
	IP        string
	UserAgent string
}

// CreateTenant makes a tenant with the default policy, an active signing key
// and a first API key with both scopes. It returns the API key secret, which
// is shown once.
func (s *Service) CreateTenant(ctx context.Context, name string, actor Actor) (Tenant, APIKey, string, error) {
	return s.CreateTenantWithLimits(ctx, name, nil, actor)
}

// CreateTenantWithLimits is CreateTenant with the operator's own ceilings
// for the tenant (nil: the deployment defaults). The default policy is
// stored clamped to the tenant's ceilings, so it always fits them.
func (s *Service) CreateTenantWithLimits(ctx context.Context, name string, limits LimitsPatch, actor Actor) (Tenant, APIKey, string, error) {
	if err := ValidateName(name); err != nil {
		return Tenant{}, APIKey{}, "", err
	}
	overrides, err := LimitOverrides{}.Patched(limits)
	if err != nil {
		return Tenant{}, APIKey{}, "", err
	}
	now := s.now()
	t := Tenant{ID: secrets.NewID(IDPrefix), Name: name, Status: Active, CreatedAt: now, UpdatedAt: now, Limits: overrides}
	ak, secret, err := NewAPIKey(t.ID, "default", []Scope{ScopeSessions, ScopeAdmin}, now)
	if err != nil {
		return Tenant{}, APIKey{}, "", err
	}
	policy := DefaultPolicy().Clamp(s.Limits(t))
	if err := s.Store.CreateTenant(ctx, t, policy, s.newKey(t.ID, now), ak); err != nil {
		return Tenant{}, APIKey{}, "", err
	}
	s.changed(ctx, t.ID)
	s.record(t.ID, events.TenantCreated, actor, nil)
	s.record(t.ID, events.APIKeyCreated, actor, map[string]string{"api_key_id": ak.ID})
	return t, ak, secret, nil
}

// Limits returns t's effective ceilings: its overrides on the deployment
// defaults.
func (s *Service) Limits(t Tenant) Limits { return t.Limits.Apply(s.Cache.DefaultLimits()) }

// GetTenant returns a tenant from the store (fault.NotFound if missing),
// with its latest session purge when it had one.
func (s *Service) GetTenant(ctx context.Context, id string) (Tenant, error) {
	if id == SystemTenantID {
		return Tenant{}, fault.New(fault.NotFound, "tenant not found")
	}
	t, err := s.Store.GetTenant(ctx, id)
	if err != nil || s.Purges == nil {
		return t, err
	}
	job, err := s.Purges.Store.PurgeJob(ctx, id)
	switch {
	case fault.Is(err, fault.NotFound):
	case err != nil:
		return Tenant{}, err
	default:
		st := job.Status()
		t.Purge = &st
	}
	return t, nil
}

// ListTenants lists tenants in creation order.
func (s *Service) ListTenants(ctx context.Context, page Page) ([]Tenant, string, error) {
	return s.Store.ListTenants(ctx, page.Normalize())
}

// UpdateTenant renames, suspends or resumes a tenant. Suspension is stored
// with a purge job for the tenant's sessions, in one transaction, and takes
// effect on every instance as soon as the change is published (verify
// refuses a suspended tenant's sessions from the cache); the purge then
// runs in the background, on whichever instance's worker claims it, until
// it completes. Resuming while that purge is not done is fault.Conflict;
// once it is, resuming restores the tenant's API keys and policy, never its
// old sessions.
//
// The change does not depend on the caller staying: it runs on a context
// detached from ctx (bounded by tenantWriteTimeout), so a client that gives
// up cannot leave a suspension stored but not applied or published.
func (s *Service) UpdateTenant(ctx context.Context, id string, patch TenantPatch, actor Actor) (Tenant, error) {
	if id == SystemTenantID {
		return Tenant{}, fault.New(fault.NotFound, "tenant not found")
	}
	if patch.Name != nil {
		if err := ValidateName(*patch.Name); err != nil {
			return Tenant{}, err
		}
	}
	if patch.Status != nil && *patch.Status != Active && *patch.Status != Suspended {
		return Tenant{}, fault.Invalid("status", `must be "active" or "suspended"`)
	}
	if _, err := (LimitOverrides{}).Patched(patch.Limits); err != nil {
		return Tenant{}, err
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	t, err := s.Store.UpdateTenant(ctx, id, patch, s.now())
	if err != nil {
		return Tenant{}, err
	}
	s.changed(ctx, id)
	if patch.Status != nil && *patch.Status == Suspended {
		s.Purges.Wake()
	}
	detail := map[string]string{}
	if patch.Status != nil {
		detail["status"] = string(*patch.Status)
	}
	if patch.Name != nil {
		detail["name"] = *patch.Name
	}
	for name, v := range patch.Limits {
		detail["limits."+name] = "default"
		if v != nil {
			detail["limits."+name] = strconv.Itoa(*v)
		}
	}
	s.record(id, events.TenantUpdated, actor, detail)
	if patch.Status != nil && *patch.Status == Suspended {
		if err := s.publish(ctx, id, ChangeSuspended, nil, ""); err != nil {
			return Tenant{}, err
		}
	}
	return t, nil
}

// DeleteTenant removes a tenant and everything it owns from the database at
// once, with a purge job for its live sessions in the same transaction; the
// purge runs in the background until it completes (see UpdateTenant), on a
// context detached from ctx.
func (s *Service) DeleteTenant(ctx context.Context, id string) error {
	if id == SystemTenantID {
		return fault.New(fault.NotFound, "tenant not found")
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.Store.DeleteTenant(ctx, id, s.now()); err != nil {
		return err
	}
	s.changed(ctx, id)
	s.Purges.Wake()
	return s.publish(ctx, id, ChangeDeleted, nil, "")
}

// tenantWriteTimeout bounds a tenant status change that no longer depends
// on its caller.
const tenantWriteTimeout = 15 * time.Second

// detached returns a context with ctx's values but not its cancellation,
// bounded by tenantWriteTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), tenantWriteTimeout)
}

// Policy returns a tenant's policy from the cache.
func (s *Service) Policy(tenantID string) (Policy, error) {
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return Policy{}, err
	}
	return snap.Policy, nil
}

// Ceilings returns a tenant's ceilings from the cache.
func (s *Service) Ceilings(tenantID string) (Limits, error) {
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return Limits{}, err
	}
	return snap.Limits, nil
}

// PutPolicy validates and replaces a tenant's policy. A policy above one
// of the tenant's ceilings is fault.InvalidRequest naming each such field,
// the ceiling and its value.
func (s *Service) PutPolicy(ctx context.Context, tenantID string, p Policy, actor Actor) (Policy, error) {
	defaulted := p.Impersonation.IsZero()
	p = p.Filled()
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return Policy{}, err
	}
	if defaulted {
		// A default the tenant did not ask for never exceeds its ceilings.
		p.Impersonation = p.Impersonation.Clamp(snap.Limits)
	}
	if err := p.Within(snap.Limits); err != nil {
		return Policy{}, err
	}
	if err := s.Store.PutPolicy(ctx, tenantID, p, s.now()); err != nil {
		return Policy{}, err
	}
	s.changed(ctx, tenantID)
	s.record(tenantID, events.PolicyChanged, actor, nil)
	if err := s.publish(ctx, tenantID, ChangePolicy, &p, ""); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Keys returns a tenant's keyring metadata, newest first, as it stands now.
func (s *Service) Keys(tenantID string) ([]Key, error) {
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Key, len(snap.Keys))
	for i, k := range snap.Keys {
		k = k.At(now)
		k.Secret = nil
		out[i] = k
	}
	return out, nil
}

// MaxGrace bounds a rotation's grace period (400 days, like the timeouts).
const MaxGrace = MaxTimeoutSeconds

// RotateKey makes a new active key. The old active key keeps verifying for
// graceSeconds (default: the policy's absolute timeout, so no live session
// is logged out) and then retires by itself. While the keyring already
// holds the tenant's retiring_keys ceiling of retiring keys, it refuses
// with fault.Conflict (retire one first).
func (s *Service) RotateKey(ctx context.Context, tenantID string, graceSeconds *int, actor Actor) (Key, error) {
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return Key{}, err
	}
	grace := snap.Policy.AbsoluteTimeout
	if graceSeconds != nil {
		if *graceSeconds < 0 || *graceSeconds > MaxGrace {
			return Key{}, fault.Invalid("grace_period", "must be from 0 to 34560000 seconds (400 days)")
		}
		grace = *graceSeconds
	}
	now := s.now()
	next := s.newKey(tenantID, now)
	if snap.RetiringAt(now) >= snap.Limits.RetiringKeys {
		return Key{}, ErrTooManyRetiring(snap.Limits.RetiringKeys)
	}
	if err := s.Store.RotateKey(ctx, tenantID, next, now.Add(time.Duration(grace)*time.Second), now, snap.Limits.RetiringKeys); err != nil {
		return Key{}, err
	}
	s.changed(ctx, tenantID)
	s.record(tenantID, events.KeyRotated, actor, map[string]string{"kid": next.ID})
	if err := s.publish(ctx, tenantID, ChangeKeyRotated, nil, ""); err != nil {
		return Key{}, err
	}
	next.Secret, next.SealedSecret = nil, nil
	return next, nil
}

// ErrTooManyRetiring is the refusal (fault.Conflict) of a rotation while
// the keyring holds the retiring_keys ceiling of retiring keys; a Store's
// RotateKey returns it too.
func ErrTooManyRetiring(ceiling int) error {
	return fault.New(fault.Conflict, "the keyring already has %d retiring keys, the operator's ceiling (retiring_keys); retire one first", ceiling)
}

// RetireKey retires a retiring key before its grace period ends. Tokens it
// signed stop verifying at once. The active key cannot be retired
// (fault.Conflict): rotate first.
func (s *Service) RetireKey(ctx context.Context, tenantID, kid string, actor Actor) (Key, error) {
	k, err := s.Store.RetireKey(ctx, tenantID, kid, s.now())
	if err != nil {
		return Key{}, err
	}
	s.changed(ctx, tenantID)
	s.record(tenantID, events.KeyRetired, actor, map[string]string{"kid": kid})
	if err := s.publish(ctx, tenantID, ChangeKeyRetired, nil, ""); err != nil {
		return Key{}, err
	}
	k.Secret, k.SealedSecret = nil, nil
	return k, nil
}

// APIKeys lists a tenant's live API keys (metadata only).
func (s *Service) APIKeys(tenantID string) ([]APIKey, error) {
	snap, err := s.snapshot(tenantID)
	if err != nil {
		return nil, err
	}
	return snap.APIKeys, nil
}

// CreateAPIKey makes an API key and returns its secret, shown once.
func (s *Service) CreateAPIKey(ctx context.Context, tenantID, name string, scopes []Scope, actor Actor) (APIKey, string, error) {
	k, secret, err := NewAPIKey(tenantID, name, scopes, s.now())
	if err != nil {
		return APIKey{}, "", err
	}
	if err := s.Store.CreateAPIKey(ctx, k); err != nil {
		return APIKey{}, "", err
	}
	s.changed(ctx, tenantID)
	s.record(tenantID, events.APIKeyCreated, actor, map[string]string{"api_key_id": k.ID})
	return k, secret, nil
}

// RevokeAPIKey revokes an API key on every instance.
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, id string, actor Actor) error {
	if err := s.Store.RevokeAPIKey(ctx, tenantID, id, s.now()); err != nil {
		return err
	}
	s.changed(ctx, tenantID)
	s.record(tenantID, events.APIKeyRevoked, actor, map[string]string{"api_key_id": id})
	return s.publish(ctx, tenantID, ChangeAPIKeyRevoked, nil, id)
}

func (s *Service) snapshot(tenantID string) (*Snapshot, error) {
	return s.Cache.Lookup(tenantID)
}

func (s *Service) newKey(tenantID string, now time.Time) Key {
	kid := secrets.NewID(KeyIDPrefix)
	secret := secrets.Random(KeySecretSize)
	return Key{
		ID: kid, TenantID: tenantID, State: KeyActive, CreatedAt: now,
		SealedSecret: s.Sealer.Seal(secret, sealAAD(tenantID, kid)),
	}
}

// changed refreshes this instance's cache and tells the others. The write
// has already succeeded, so failures here are logged, not returned: a
// failed local reload leaves the tenant read from the store until a retry
// succeeds (Cache.Refresh), and a notice Redis did not take promptly is
// retried by the Notifier in the background, so neither holds up the
// answer for long.
func (s *Service) changed(ctx context.Context, tenantID string) {
	if err := s.Cache.Refresh(ctx, tenantID); err != nil {
		s.Log.Warn("tenant cache: reload after write failed; retrying in the background", slog.String("tenant_id", tenantID), slog.String("error", err.Error()))
	}
	if err := s.Notifier.Publish(ctx, tenantID); err != nil {
		s.Log.Warn("tenant change not yet published; retrying in the background", slog.String("tenant_id", tenantID), slog.String("error", err.Error()))
	}
}

func (s *Service) record(tenantID string, typ events.Type, actor Actor, detail map[string]string) {
	s.Events.Record(events.Event{
		TenantID: tenantID, Type: typ, Time: s.now().UTC(),
		IP: actor.IP, UserAgent: actor.UserAgent, Actor: actor.Name, Detail: detail,
	})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}
