package sessions_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// keyExpiry returns when key expires on the engine's clock.
func (e *env) keyExpiry(key string) time.Time {
	e.t.Helper()
	return testkit.KeyExpiry(e.t, e.rdb, key, e.clock.Now())
}

// tenantMap is a fake TenantSource; the engine only reads snapshots. Fresh
// answers from stored (the store's state, when a test sets it apart from
// the memory m) and counts its reads.
type tenantMap struct {
	mu     sync.Mutex
	m      map[string]*tenants.Snapshot
	stored map[string]*tenants.Snapshot
	reads  atomic.Int64
}

func (t *tenantMap) Lookup(id string) (*tenants.Snapshot, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[id]
	if !ok {
		return nil, fault.New(fault.NotFound, "tenant not found")
	}
	return s, nil
}

func (t *tenantMap) Fresh(id string) (*tenants.Snapshot, error) {
	t.reads.Add(1)
	t.mu.Lock()
	s, ok := t.stored[id]
	t.mu.Unlock()
	if ok {
		return s, nil
	}
	return t.Lookup(id)
}

func (t *tenantMap) put(s *tenants.Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[s.Tenant.ID] = s
}

// update replaces a tenant's snapshot by a modified copy (snapshots are
// immutable).
func (t *tenantMap) update(id string, f func(*tenants.Snapshot)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cp := *t.m[id]
	cp.Keys = append([]tenants.Key(nil), cp.Keys...)
	f(&cp)
	t.m[id] = &cp
}

// counter is a go-redis hook counting round trips: one per command sent
// alone, one per pipeline.
type counter struct {
	n    atomic.Int64
	mu   sync.Mutex
	cmds []string
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		c.mu.Lock()
		c.cmds = append(c.cmds, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		c.mu.Lock()
		c.cmds = append(c.cmds, "pipeline")
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// trips runs f and returns the round trips it made and their commands.
func (c *counter) trips(f func()) (int64, []string) {
	c.mu.Lock()
	c.cmds = nil
	c.mu.Unlock()
	before := c.n.Load()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n.Load() - before, append([]string(nil), c.cmds...)
}

// env is one test's engine over a fresh key prefix.
type env struct {
	t       *testing.T
	rdb     redis.UniversalClient
	prefix  string
	clock   *testkit.Clock
	tenants *tenantMap
	events  *testkit.Events
	count   *counter
	logs    *testkit.Buffer
	m       *sessions.Manager
	ctx     context.Context
}

type envOption func(*sessions.Options)

func guessLimit(n int) envOption { return func(o *sessions.Options) { o.GuessLimit = n } }

// newEnv builds a Manager over a redisstore on the test Redis with its own random key
// prefix (deleted at cleanup), a fake clock, a capturing event recorder and a
// round-trip counter, and warms the scripts.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvAt(t, testkit.NewClock(), opts...)
}

// newEnvAt is newEnv with the engine's clock given: any date, so that tests
// can show that nothing depends on it being close to Redis's own clock.
func newEnvAt(t *testing.T, clock *testkit.Clock, opts ...envOption) *env {
	t.Helper()
	return newEnvOn(t, testkit.Redis(t), clock, opts...)
}

// newEnvOn is newEnvAt on the Redis rdb.
func newEnvOn(t *testing.T, rdb redis.UniversalClient, clock *testkit.Clock, opts ...envOption) *env {
	t.Helper()
	e := &env{
		t: t, rdb: rdb, prefix: "sdtest:" + secrets.Encode(secrets.Random(6)),
		clock: clock, tenants: &tenantMap{m: map[string]*tenants.Snapshot{}},
		events: &testkit.Events{}, count: &counter{}, logs: &testkit.Buffer{}, ctx: context.Background(),
	}
	rdb.AddHook(e.count)
	o := sessions.Options{
		Now: e.clock.Now, Events: e.events, GuessLimit: 1000,
		Log: slog.New(slog.NewJSONHandler(e.logs, nil)),
	}
	for _, f := range opts {
		f(&o)
	}
	e.m = sessions.NewManager(redisstore.New(rdb, redisstore.Options{Prefix: e.prefix}), e.tenants, o)
	if err := e.m.LoadScripts(e.ctx); err != nil {
		t.Fatalf("LoadScripts: %v", err)
	}
	t.Cleanup(func() {
		e.m.Wait()
		for _, k := range testkit.ScanKeys(t, rdb, e.prefix+":*") {
			rdb.Del(context.Background(), k)
		}
	})
	return e
}

// keys returns every key under the test's prefix.
func (e *env) keys() []string { return testkit.ScanKeys(e.t, e.rdb, e.prefix+":*") }

// tenantKeys returns every key of one tenant.
func (e *env) tenantKeys(tenantID string) []string {
	return testkit.ScanKeys(e.t, e.rdb, e.prefix+":{"+tenantID+":*")
}

// newTenant adds an active tenant with one active signing key and the given
// policy changes to the defaults.
func (e *env) newTenant(policy ...func(*tenants.Policy)) *tenants.Snapshot {
	now := e.clock.Now()
	p := tenants.DefaultPolicy()
	for _, f := range policy {
		f(&p)
	}
	id := secrets.NewID(tenants.IDPrefix)
	s := &tenants.Snapshot{
		Tenant: tenants.Tenant{ID: id, Name: "test", Status: tenants.Active, CreatedAt: now, UpdatedAt: now},
		Policy: p,
		Keys:   []tenants.Key{newKey(id, tenants.KeyActive, now)},
	}
	e.tenants.put(s)
	return s
}

func newKey(tenantID string, state tenants.KeyState, now time.Time) tenants.Key {
	return tenants.Key{
		ID: secrets.NewID(tenants.KeyIDPrefix), TenantID: tenantID, State: state, CreatedAt: now,
		Secret: secrets.Random(tenants.KeySecretSize),
	}
}

func (e *env) create(tenantID string, p sessions.CreateParams) sessions.Created {
	e.t.Helper()
	c, err := e.m.Create(e.ctx, tenantID, p, sessions.Meta{IP: "192.0.2.1", UserAgent: "app/1.0", Actor: "api_key:test"})
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return c
}

func (e *env) verify(tenantID, token string) (sessions.Verified, error) {
	return e.m.Verify(e.ctx, tenantID, sessions.VerifyParams{Token: token}, sessions.Meta{IP: "192.0.2.1"})
}

func (e *env) mustVerify(tenantID, token string) sessions.Verified {
	e.t.Helper()
	v, err := e.verify(tenantID, token)
	if err != nil {
		e.t.Fatalf("Verify: %v", err)
	}
	return v
}

// wantCode fails the test unless err carries code.
var wantCode = testkit.WantCode

// fieldOf returns the first field an InvalidRequest names.
func fieldOf(err error) string {
	var fe *fault.Error
	if errors.As(err, &fe) && len(fe.Fields) > 0 {
		return fe.Fields[0].Field
	}
	return ""
}

// signedToken builds a well-signed token by hand, as an attacker who knew a
// key could, to test strict mode.
func signedToken(key tenants.Key, bucket string, nonce []byte) string {
	signed := "v1." + key.ID + "." + bucket + "." + base64.RawURLEncoding.EncodeToString(nonce)
	h := hmac.New(sha256.New, key.Secret)
	h.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func idsOf(ss []sessions.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// mustPurge purges every session of a tenant, failing the test on error.
func mustPurge(t testing.TB, e *env, tenantID string) {
	t.Helper()
	if err := e.m.PurgeTenant(e.ctx, tenantID, 0, func(int) error { return nil }); err != nil {
		t.Fatalf("purge %s: %v", tenantID, err)
	}
}
