package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// fixture is a stored tenant with the plaintext of its credentials.
type fixture struct {
	Tenant       tenants.Tenant
	Key          tenants.Key
	KeySecret    []byte
	APIKey       tenants.APIKey
	APIKeySecret string
}

// mustStore returns a Store on a fresh migrated schema.
func mustStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	return postgres.NewStore(pgtest.New(tb))
}

func mustSealer(tb testing.TB) *secrets.Sealer {
	tb.Helper()
	s, err := secrets.NewSealer(secrets.Random(secrets.MasterKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// testNow is a time PostgreSQL stores exactly (microseconds, UTC).
func testNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// newKey makes an active signing key of tenantID with a random secret,
// sealed as the tenants package seals it (additional data "tenant/kid").
func newKey(tb testing.TB, sealer *secrets.Sealer, tenantID string, now time.Time) (tenants.Key, []byte) {
	tb.Helper()
	kid := secrets.NewID(tenants.KeyIDPrefix)
	secret := secrets.Random(tenants.KeySecretSize)
	return tenants.Key{
		ID: kid, TenantID: tenantID, State: tenants.KeyActive, CreatedAt: now,
		SealedSecret: sealer.Seal(secret, []byte(tenantID+"/"+kid)),
	}, secret
}

func newAPIKey(tb testing.TB, tenantID string, now time.Time) (tenants.APIKey, string) {
	tb.Helper()
	ak, secret, err := tenants.NewAPIKey(tenantID, "default", []tenants.Scope{tenants.ScopeSessions, tenants.ScopeAdmin}, now)
	if err != nil {
		tb.Fatal(err)
	}
	return ak, secret
}

// mustCreateTenant stores a tenant with the default policy, an active key and
// an API key.
func mustCreateTenant(tb testing.TB, s *postgres.Store, sealer *secrets.Sealer, name string, now time.Time) fixture {
	tb.Helper()
	return mustCreateTenantID(tb, s, sealer, secrets.NewID(tenants.IDPrefix), name, now)
}

func mustCreateTenantID(tb testing.TB, s *postgres.Store, sealer *secrets.Sealer, id, name string, now time.Time) fixture {
	tb.Helper()
	f := fixture{Tenant: tenants.Tenant{ID: id, Name: name, Status: tenants.Active, CreatedAt: now, UpdatedAt: now}}
	f.Key, f.KeySecret = newKey(tb, sealer, id, now)
	f.APIKey, f.APIKeySecret = newAPIKey(tb, id, now)
	if err := s.CreateTenant(context.Background(), f.Tenant, tenants.DefaultPolicy(), f.Key, f.APIKey); err != nil {
		tb.Fatalf("CreateTenant(%s): %v", name, err)
	}
	return f
}

func mustLoadState(tb testing.TB, s *postgres.Store, id string) tenants.State {
	tb.Helper()
	st, err := s.LoadState(context.Background(), id)
	if err != nil {
		tb.Fatalf("LoadState(%s): %v", id, err)
	}
	return st
}

// wantCode fails unless err carries code.
var wantCode = testkit.WantCode

func activeKeys(keys []tenants.Key) []tenants.Key {
	var out []tenants.Key
	for _, k := range keys {
		if k.State == tenants.KeyActive {
			out = append(out, k)
		}
	}
	return out
}
