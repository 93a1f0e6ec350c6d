package tenants

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Notifier carries "tenant changed" messages between sessiond instances.
type Notifier interface {
	// Publish tells every instance that tenantID changed.
	Publish(ctx context.Context, tenantID string) error
	// Subscribe calls onChange for every published tenant id until ctx ends.
	// It calls onReady each time the subscription is (re)established, so the
	// subscriber can reload whatever it may have missed meanwhile.
	Subscribe(ctx context.Context, onChange func(tenantID string), onReady func())
}

// Snapshot is the cached, immutable view of one tenant. Keys hold their
// plaintext secrets. Callers must not modify a Snapshot.
type Snapshot struct {
	Tenant Tenant
	// Policy is the effective policy: the tenant's stored policy clamped
	// to Limits (Policy.Clamp), which is what the engine applies and GET
	// /v1/policy shows.
	Policy Policy
	// Limits are the tenant's ceilings: its overrides on the deployment
	// defaults (every ceiling at its largest for the system tenant).
	Limits  Limits
	Keys    []Key
	APIKeys []APIKey

	// keyIndex maps a kid to its place in Keys (built by the Cache), so a
	// token's key is found in one lookup however long the keyring grew.
	keyIndex map[string]int
}

// RetiringAt returns how many keys of the keyring are still retiring at now.
func (s *Snapshot) RetiringAt(now time.Time) int {
	n := 0
	for _, k := range s.Keys {
		if k.At(now).State == KeyRetiring {
			n++
		}
	}
	return n
}

// ActiveKey returns the key that signs new tokens.
func (s *Snapshot) ActiveKey() (Key, bool) {
	for _, k := range s.Keys {
		if k.State == KeyActive {
			return k, true
		}
	}
	return Key{}, false
}

// Key returns the key with id kid as it stands at now: one map lookup in a
// snapshot from the Cache, a walk of Keys in one built by hand.
func (s *Snapshot) Key(kid string, now time.Time) (Key, bool) {
	if s.keyIndex != nil {
		i, ok := s.keyIndex[kid]
		if !ok {
			return Key{}, false
		}
		return s.Keys[i].At(now), true
	}
	for _, k := range s.Keys {
		if k.ID == kid {
			return k.At(now), true
		}
	}
	return Key{}, false
}

// Principal is the authenticated caller of a tenant endpoint.
type Principal struct {
	TenantID string
	APIKeyID string
	Scopes   []Scope
	// RequestsPerSecond is the tenant's request-rate ceiling.
	RequestsPerSecond int
}

// Has reports whether the principal carries scope.
func (p Principal) Has(scope Scope) bool { return APIKey{Scopes: p.Scopes}.Has(scope) }

type apiKeyEntry struct {
	tenantID string
	hash     []byte
	scopes   []Scope
}

// Cache holds every tenant's snapshot in memory, so that authenticating an
// API key, reading a policy or finding a signing key never waits on the
// database. It stays current through a Notifier and a periodic full refresh,
// and keeps serving what it has while the database is down.
type Cache struct {
	store  Store
	sealer *secrets.Sealer
	log    *slog.Logger

	// loading serialises LoadAll and Reload, read and apply, so each reads
	// the store only after the previous one has applied: a reload that read
	// an older state can never be applied after one that read a newer one.
	loading sync.Mutex

	mu       sync.RWMutex
	tenants  map[string]*Snapshot
	apiKeys  map[string]apiKeyEntry
	defaults Limits
}

// NewCache returns an empty cache whose tenants' ceilings default to
// DefaultLimits; call LoadAll before serving.
func NewCache(store Store, sealer *secrets.Sealer, log *slog.Logger) *Cache {
	return &Cache{
		store: store, sealer: sealer, log: log,
		tenants: map[string]*Snapshot{}, apiKeys: map[string]apiKeyEntry{},
		defaults: DefaultLimits(),
	}
}

// SetDefaultLimits sets the deployment's default ceilings (fields not set
// take DefaultLimits). It applies from the next load, so call it before
// LoadAll.
func (c *Cache) SetDefaultLimits(l Limits) {
	c.mu.Lock()
	c.defaults = l.OrDefault()
	c.mu.Unlock()
}

// DefaultLimits returns the deployment's default ceilings.
func (c *Cache) DefaultLimits() Limits {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.defaults
}

// LoadAll replaces the cache's contents with every tenant in the store.
func (c *Cache) LoadAll(ctx context.Context) error {
	c.loading.Lock()
	defer c.loading.Unlock()
	states, err := c.store.LoadAllStates(ctx)
	if err != nil {
		return err
	}
	tenants := make(map[string]*Snapshot, len(states))
	apiKeys := map[string]apiKeyEntry{}
	for _, st := range states {
		snap, err := c.snapshot(st)
		if err != nil {
			return err
		}
		tenants[st.Tenant.ID] = snap
		indexAPIKeys(apiKeys, snap)
	}
	c.mu.Lock()
	c.tenants, c.apiKeys = tenants, apiKeys
	c.mu.Unlock()
	return nil
}

// Reload refreshes one tenant from the store, or drops it if it no longer
// exists.
func (c *Cache) Reload(ctx context.Context, tenantID string) error {
	c.loading.Lock()
	defer c.loading.Unlock()
	st, err := c.store.LoadState(ctx, tenantID)
	if fault.Is(err, fault.NotFound) {
		c.mu.Lock()
		c.dropLocked(tenantID)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	snap, err := c.snapshot(st)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.dropLocked(tenantID)
	c.tenants[tenantID] = snap
	indexAPIKeys(c.apiKeys, snap)
	c.mu.Unlock()
	return nil
}

// Run keeps the cache current until ctx ends: it reloads a tenant when a
// change is published, everything when the subscription (re)connects, and
// everything every refresh interval in case a message was lost.
func (c *Cache) Run(ctx context.Context, n Notifier, refresh time.Duration) {
	reload := func(what string, load func(context.Context) error) {
		// Bounded, so a hung database cannot hold the reload lock for long.
		lctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		defer cancel()
		if err := load(lctx); err != nil && ctx.Err() == nil {
			c.log.Warn("tenant cache: "+what+" failed; serving the cached copy", slog.String("error", err.Error()))
		}
	}
	go n.Subscribe(ctx, func(tenantID string) {
		reload("reload of "+tenantID, func(ctx context.Context) error { return c.Reload(ctx, tenantID) })
	}, func() {
		reload("full reload", c.LoadAll)
	})
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			reload("periodic reload", c.LoadAll)
		}
	}
}

// reloadTimeout bounds one background reload.
const reloadTimeout = 30 * time.Second

// Len returns the number of cached tenants.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tenants)
}

// Tenant returns the cached snapshot of a tenant.
func (c *Cache) Tenant(id string) (*Snapshot, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.tenants[id]
	return s, ok
}

// Authenticate resolves an API key secret to its tenant. It returns
// fault.Unauthorized for an unknown, malformed or revoked key and
// fault.Forbidden if the tenant is suspended. The secret's hash is compared
// in constant time.
func (c *Cache) Authenticate(secret string) (Principal, error) {
	id, ok := parseAPIKeySecret(secret)
	if !ok {
		return Principal{}, fault.New(fault.Unauthorized, "missing or invalid API key")
	}
	c.mu.RLock()
	entry, found := c.apiKeys[id]
	var snap *Snapshot
	if found {
		snap = c.tenants[entry.tenantID]
	}
	c.mu.RUnlock()
	if !found || !secrets.Equal(entry.hash, secrets.Hash(secret)) || snap == nil {
		return Principal{}, fault.New(fault.Unauthorized, "missing or invalid API key")
	}
	if snap.Tenant.Status != Active {
		return Principal{}, fault.New(fault.Forbidden, "tenant is suspended")
	}
	return Principal{TenantID: entry.tenantID, APIKeyID: id, Scopes: entry.scopes,
		RequestsPerSecond: snap.Limits.RequestsPerSecond}, nil
}

func (c *Cache) dropLocked(tenantID string) {
	old, ok := c.tenants[tenantID]
	if !ok {
		return
	}
	for _, k := range old.APIKeys {
		delete(c.apiKeys, k.ID)
	}
	delete(c.tenants, tenantID)
}

func (c *Cache) snapshot(st State) (*Snapshot, error) {
	keys := make([]Key, len(st.Keys))
	index := make(map[string]int, len(st.Keys))
	for i, k := range st.Keys {
		index[k.ID] = i
		if k.State != KeyRetired {
			secret, err := c.sealer.Open(k.SealedSecret, sealAAD(k.TenantID, k.ID))
			if err != nil {
				return nil, fmt.Errorf("tenant %s key %s: %w", k.TenantID, k.ID, err)
			}
			k.Secret = secret
		}
		k.SealedSecret = nil
		keys[i] = k
	}
	var live []APIKey
	for _, k := range st.APIKeys {
		if k.RevokedAt == nil {
			live = append(live, k)
		}
	}
	limits := st.Tenant.Limits.Apply(c.DefaultLimits())
	if st.Tenant.ID == SystemTenantID {
		limits = unbounded()
	}
	return &Snapshot{Tenant: st.Tenant, Policy: st.Policy.Clamp(limits), Limits: limits, Keys: keys, APIKeys: live, keyIndex: index}, nil
}

func indexAPIKeys(m map[string]apiKeyEntry, s *Snapshot) {
	for _, k := range s.APIKeys {
		m[k.ID] = apiKeyEntry{tenantID: s.Tenant.ID, hash: k.SecretHash, scopes: k.Scopes}
	}
}

// EventsPerMinute returns the events_per_minute ceiling of a tenant, or 0
// for a tenant the cache does not hold (an event writer takes it as a
// func(tenantID string) int).
func (c *Cache) EventsPerMinute(tenantID string) int {
	if s, ok := c.Tenant(tenantID); ok {
		return s.Limits.EventsPerMinute
	}
	return 0
}
