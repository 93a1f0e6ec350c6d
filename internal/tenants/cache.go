package tenants

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
)

// Notifier carries "tenant changed" messages between sessiond instances.
type Notifier interface {
	// Publish tells every instance that tenantID changed. It must return
	// promptly even when the message bus is unreachable (retrying in the
	// background is the Notifier's business).
	Publish(ctx context.Context, tenantID string) error
	// Subscribe reports to l what it hears until ctx ends.
	Subscribe(ctx context.Context, l Listener)
}

// Listener receives what a Notifier's subscription hears. A Notifier calls
// it from one goroutine, in the order things happen, and each call must
// return quickly.
type Listener struct {
	// Ready: the subscription is (re)established; notices published from
	// now on are delivered. Those published before may have been missed.
	Ready func()
	// Changed: another instance changed tenantID.
	Changed func(tenantID string)
	// Alive: every notice published before asOf has been delivered
	// (through Changed) since the last Ready. asOf is on the clock of
	// CacheOptions.Now.
	Alive func(asOf time.Time)
	// Lost: the subscription broke; notices may be missed until Ready.
	Lost func()
}

// Snapshot is the cached, immutable view of one tenant. Keys is the whole
// keyring: active and retiring keys with their plaintext secrets, and the
// retired keys' ids and metadata without their secrets (which never enter
// the cache), so that verify tells a retired key's token from a forgery.
// Callers must not modify a Snapshot.
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
// API key, reading a policy or finding a signing key does not wait on the
// database. It stays current through a Notifier and a periodic full reload.
//
// It answers from memory only while it is confirmed current: its
// subscription answered a PING sent less than StaleAfter ago, the full
// reload after the subscription's latest (re)connect succeeded, and the
// tenant asked for has no reload pending after a notice. Otherwise it
// re-reads that tenant from the store (concurrent requests share one read,
// with a short timeout), and answers fault.Unavailable when the store
// cannot be reached either. So once another instance has published a change,
// this one never answers from the state before it for longer than
// StaleAfter, whatever happens to its own connections. While confirmed, the
// request path costs a clock read and two atomic loads more than a map
// lookup.
type Cache struct {
	store  Store
	sealer *secrets.Sealer
	log    *slog.Logger
	o      CacheOptions
	origin time.Time // the offsets below count from it, on o.Now

	// loading serialises LoadAll and Reload, read and apply, so each reads
	// the store only after the previous one has applied: a reload that read
	// an older state can never be applied after one that read a newer one.
	loading sync.Mutex

	mu      sync.RWMutex
	tenants map[string]*Snapshot
	apiKeys map[string]apiKeyEntry
	// defaults are the deployment's default ceilings (SetDefaultLimits).
	defaults Limits

	// confirmedUntil is the offset (ns after origin) until which the cache
	// is confirmed current (notConfirmed when it is not); pending counts the
	// tenants with a reload outstanding.
	confirmedUntil atomic.Int64
	pending        atomic.Int64

	state     sync.Mutex
	connected bool
	epoch     uint64            // subscriptions established so far
	loaded    uint64            // the epoch whose full reload succeeded
	alive     bool              // a PING was answered on this subscription
	aliveAt   int64             // offset of the latest answered PING
	dirty     map[string]uint64 // tenant → generation of its latest notice
	gen       uint64
	fullDue   bool // the periodic full reload is due
	wake      chan struct{}

	snaps  *coalescer[*Snapshot] // re-reads of one tenant
	owners *coalescer[string]    // which tenant an unknown API key belongs to
}

// CacheOptions tune a Cache; zero values take the defaults.
type CacheOptions struct {
	// StaleAfter bounds how long the cache answers from memory without a
	// confirmation (DefaultStaleAfter).
	StaleAfter time.Duration
	// Refresh is the interval of the periodic full reload (DefaultRefresh).
	Refresh time.Duration
	// Now is the clock StaleAfter is measured on (time.Now); the Notifier's
	// Alive times must come from the same clock.
	Now func() time.Time
}

const (
	// DefaultStaleAfter is the default CacheOptions.StaleAfter.
	DefaultStaleAfter = 2 * time.Second
	// DefaultRefresh is the default CacheOptions.Refresh.
	DefaultRefresh = 30 * time.Second

	notConfirmed = math.MinInt64
	// freshGap is the least time between two Fresh reads of one tenant.
	freshGap = 50 * time.Millisecond
	// readTimeout bounds a request's re-read of one tenant.
	readTimeout = time.Second
	// tenantReloadTimeout and fullReloadTimeout bound one background
	// reload, so a hung database cannot hold the reload lock for long.
	tenantReloadTimeout = 5 * time.Second
	fullReloadTimeout   = 30 * time.Second
	// Background reloads that fail are retried after a delay that doubles
	// from minBackoff up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// NewCache returns an empty cache whose tenants' ceilings default to
// DefaultLimits; call LoadAll before serving and Run to
// keep it current. Until Run's subscription is confirmed, every request
// reads the store.
func NewCache(store Store, sealer *secrets.Sealer, log *slog.Logger, o CacheOptions) *Cache {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// A re-read is reused for a quarter of the bound (on the bound's clock,
	// o.Now, as well as in real time), so answers from it are never older
	// than the bound either.
	reuse := o.StaleAfter / 4
	c := &Cache{
		store: store, sealer: sealer, log: log, o: o, origin: o.Now(),
		tenants: map[string]*Snapshot{}, apiKeys: map[string]apiKeyEntry{},
		dirty: map[string]uint64{}, wake: make(chan struct{}, 1), defaults: DefaultLimits(),
		snaps: newCoalescer[*Snapshot](reuse, o.Now), owners: newCoalescer[string](reuse, o.Now),
	}
	c.confirmedUntil.Store(notConfirmed)
	return c
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

// Refresh reloads a tenant this instance has just changed. If that fails,
// the tenant is read from the store on every request until a background
// retry (Run) reloads it, so the change is never hidden by the cache.
func (c *Cache) Refresh(ctx context.Context, tenantID string) error {
	err := c.Reload(ctx, tenantID)
	// A re-read from before the change must not be reused after it.
	c.snaps.forget(tenantID)
	if err != nil {
		c.changed(tenantID)
	}
	return err
}

// Run keeps the cache current until ctx ends: it marks a tenant pending
// and reloads it when a change is published, reloads everything when the
// subscription (re)connects and every Refresh, and retries every reload
// that fails, with backoff, until it succeeds or a newer one supersedes it.
func (c *Cache) Run(ctx context.Context, n Notifier) {
	go n.Subscribe(ctx, Listener{Ready: c.ready, Changed: c.changed, Alive: c.confirm, Lost: c.lost})
	tick := time.NewTicker(c.o.Refresh)
	defer tick.Stop()
	backoff := minBackoff
	for {
		err := c.catchUp(ctx)
		if ctx.Err() != nil {
			return
		}
		wake, retry := c.wake, (<-chan time.Time)(nil)
		if err != nil {
			c.log.Warn("tenant cache: reload failed; the tenants concerned are read from the database until a retry succeeds",
				slog.String("error", err.Error()), slog.Duration("retry_in", backoff))
			wake, retry = nil, time.After(backoff)
			backoff = min(backoff*2, maxBackoff)
		} else {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-retry:
		case <-tick.C:
			c.state.Lock()
			c.fullDue = true
			c.state.Unlock()
		}
	}
}

// catchUp runs the reloads outstanding: everything, if the subscription has
// none since it connected or the periodic one is due, then each pending
// tenant. It stops at the first failure.
func (c *Cache) catchUp(ctx context.Context) error {
	for {
		c.state.Lock()
		full := c.fullDue || (c.connected && c.loaded != c.epoch)
		epoch, dirty := c.epoch, maps.Clone(c.dirty)
		c.state.Unlock()
		switch {
		case full:
			lctx, cancel := context.WithTimeout(ctx, fullReloadTimeout)
			err := c.LoadAll(lctx)
			cancel()
			if err != nil {
				return fmt.Errorf("full reload: %w", err)
			}
			c.state.Lock()
			c.fullDue, c.loaded = false, epoch
			c.settleLocked(dirty)
			c.state.Unlock()
		case len(dirty) > 0:
			for id, gen := range dirty {
				lctx, cancel := context.WithTimeout(ctx, tenantReloadTimeout)
				err := c.Reload(lctx, id)
				cancel()
				if err != nil {
					return fmt.Errorf("reload of %s: %w", id, err)
				}
				c.state.Lock()
				c.settleLocked(map[string]uint64{id: gen})
				c.state.Unlock()
			}
		default:
			return nil
		}
	}
}

// settleLocked clears the tenants whose reload read the store after their
// latest notice (done holds the generations as they were when it started).
func (c *Cache) settleLocked(done map[string]uint64) {
	for id, gen := range done {
		if c.dirty[id] == gen {
			delete(c.dirty, id)
		}
	}
	c.pending.Store(int64(len(c.dirty)))
	c.publishLocked()
}

// publishLocked sets confirmedUntil from the subscription's state.
func (c *Cache) publishLocked() {
	if c.connected && c.alive && c.loaded == c.epoch {
		c.confirmedUntil.Store(c.aliveAt + int64(c.o.StaleAfter))
	} else {
		c.confirmedUntil.Store(notConfirmed)
	}
}

// changed marks tenantID pending (it is read from the store until
// reloaded) and wakes the reloader.
func (c *Cache) changed(tenantID string) {
	c.snaps.forget(tenantID)
	c.state.Lock()
	c.gen++
	c.dirty[tenantID] = c.gen
	c.pending.Store(int64(len(c.dirty)))
	c.state.Unlock()
	c.poke()
}

func (c *Cache) ready() {
	c.state.Lock()
	c.connected, c.alive = true, false
	c.epoch++
	c.publishLocked()
	c.state.Unlock()
	c.poke()
}

func (c *Cache) lost() {
	c.state.Lock()
	c.connected, c.alive = false, false
	c.publishLocked()
	c.state.Unlock()
}

func (c *Cache) confirm(asOf time.Time) {
	c.state.Lock()
	if c.connected {
		c.alive, c.aliveAt = true, c.offset(asOf)
		c.publishLocked()
	}
	c.state.Unlock()
}

func (c *Cache) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Cache) offset(t time.Time) int64 { return int64(t.Sub(c.origin)) }

// confirmed reports whether the cache is confirmed current now.
func (c *Cache) confirmed() bool {
	return c.offset(c.o.Now()) < c.confirmedUntil.Load()
}

// current reports whether tenantID may be answered from memory.
func (c *Cache) current(tenantID string) bool {
	if !c.confirmed() {
		return false
	}
	if c.pending.Load() == 0 {
		return true
	}
	c.state.Lock()
	_, dirty := c.dirty[tenantID]
	c.state.Unlock()
	return !dirty
}

// Confirmed reports whether the cache is confirmed current for every
// tenant (for metrics and tests).
func (c *Cache) Confirmed() bool { return c.confirmed() && c.pending.Load() == 0 }

// ConfirmedFor reports whether requests for tenantID are answered from
// memory now.
func (c *Cache) ConfirmedFor(tenantID string) bool { return c.current(tenantID) }

// Len returns the number of cached tenants.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tenants)
}

// Lookup returns a tenant's current snapshot: from memory while the cache
// is confirmed current for it, else read from the store. A missing tenant
// is fault.NotFound; fault.Unavailable when the cache is not confirmed and
// the store cannot be read.
func (c *Cache) Lookup(id string) (*Snapshot, error) {
	if !c.current(id) {
		return c.snaps.do(id, c.reader(id))
	}
	c.mu.RLock()
	s, ok := c.tenants[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fault.New(fault.NotFound, "tenant not found")
	}
	return s, nil
}

// Fresh returns a tenant's snapshot as read from the store after the call
// began, whatever the cache holds: for a request naming something memory
// does not know yet (a signing key another instance has just created, whose
// notice may still be on its way). Callers share reads: one tenant is read
// at most once per freshGap however often it is asked for, so a flood of
// tokens naming unknown keys costs the store at most that. fault.NotFound for a missing tenant; fault.Unavailable when the
// store cannot be read.
func (c *Cache) Fresh(id string) (*Snapshot, error) {
	return c.snaps.after(id, freshGap, c.reader(id))
}

// reader reads tenant id's snapshot from the store.
func (c *Cache) reader(id string) func(context.Context) (*Snapshot, error) {
	return func(ctx context.Context) (*Snapshot, error) {
		st, err := c.store.LoadState(ctx, id)
		if err != nil {
			return nil, err
		}
		return c.snapshot(st)
	}
}

// Tenant is Lookup for callers that need only whether the tenant can be
// had now: ok is false for a missing tenant and when it cannot be read.
func (c *Cache) Tenant(id string) (*Snapshot, bool) {
	s, err := c.Lookup(id)
	return s, err == nil
}

// Authenticate resolves an API key secret to its tenant. It returns
// fault.Unauthorized for an unknown, malformed or revoked key and
// fault.Forbidden if the tenant is suspended, from memory while the cache is
// confirmed current for the key's tenant, else from the store
// (fault.Unavailable when that cannot be read). The secret's hash is
// compared in constant time.
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
	switch {
	case found && c.current(entry.tenantID):
	case !found && c.Confirmed():
		return Principal{}, fault.New(fault.Unauthorized, "missing or invalid API key")
	default:
		var err error
		if entry, snap, err = c.readAPIKey(id, entry.tenantID); err != nil {
			return Principal{}, err
		}
	}
	if snap == nil || entry.hash == nil || !secrets.Equal(entry.hash, secrets.Hash(secret)) {
		return Principal{}, fault.New(fault.Unauthorized, "missing or invalid API key")
	}
	if snap.Tenant.Status != Active {
		return Principal{}, fault.New(fault.Forbidden, "tenant is suspended")
	}
	return Principal{TenantID: entry.tenantID, APIKeyID: id, Scopes: entry.scopes,
		RequestsPerSecond: snap.Limits.RequestsPerSecond}, nil
}

// readAPIKey finds API key id as it stands, when memory cannot be trusted
// for it: its tenant (tenantID, or looked up in the store when the cache
// does not know the key) and that tenant's current snapshot. An unknown or
// revoked key gives an empty entry.
func (c *Cache) readAPIKey(id, tenantID string) (apiKeyEntry, *Snapshot, error) {
	if tenantID == "" {
		var err error
		tenantID, err = c.owners.do(id, func(ctx context.Context) (string, error) {
			return c.store.APIKeyTenant(ctx, id)
		})
		if fault.Is(err, fault.NotFound) {
			return apiKeyEntry{}, nil, nil
		}
		if err != nil {
			return apiKeyEntry{}, nil, err
		}
	}
	snap, err := c.Lookup(tenantID)
	if fault.Is(err, fault.NotFound) {
		return apiKeyEntry{}, nil, nil
	}
	if err != nil {
		return apiKeyEntry{}, nil, err
	}
	for _, k := range snap.APIKeys {
		if k.ID == id {
			return apiKeyEntry{tenantID: tenantID, hash: k.SecretHash, scopes: k.Scopes}, snap, nil
		}
	}
	return apiKeyEntry{}, nil, nil
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
	return &Snapshot{Tenant: st.Tenant, Policy: st.Policy.Filled().Clamp(limits), Limits: limits, Keys: keys, APIKeys: live, keyIndex: index}, nil
}

func indexAPIKeys(m map[string]apiKeyEntry, s *Snapshot) {
	for _, k := range s.APIKeys {
		m[k.ID] = apiKeyEntry{tenantID: s.Tenant.ID, hash: k.SecretHash, scopes: k.Scopes}
	}
}

// WebhookEndpoints returns a tenant's webhook_endpoints ceiling as this
// instance's memory holds it (the deployment default for a tenant the
// cache does not hold).
func (c *Cache) WebhookEndpoints(tenantID string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s, ok := c.tenants[tenantID]; ok {
		return s.Limits.WebhookEndpoints
	}
	return c.defaults.WebhookEndpoints
}

// EventsPerMinute returns the events_per_minute ceiling of a tenant as this
// instance's memory holds it (never reading the store: the event writer
// calls it on every event and must not wait), the deployment default for a
// tenant the cache does not hold. An event writer takes it as a
// func(tenantID string) int.
func (c *Cache) EventsPerMinute(tenantID string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s, ok := c.tenants[tenantID]; ok {
		return s.Limits.EventsPerMinute
	}
	return c.defaults.EventsPerMinute
}
