package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/tenants"
)

// TestADatabaseThatCannotBeReachedIsUnavailable calls every method of the
// Store on a closed pool and on a pool whose server port is closed.
func TestADatabaseThatCannotBeReachedIsUnavailable(t *testing.T) {
	t.Parallel()
	now := testNow()
	sealer := mustSealer(t)
	key, _ := newKey(t, sealer, "tn_a", now)
	ak, _ := newAPIKey(t, "tn_a", now)
	name := "x"
	tn := tenants.Tenant{ID: "tn_a", Name: "A", Status: tenants.Active, CreatedAt: now, UpdatedAt: now}

	closed := pgtest.New(t)
	closed.Close()
	refused, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/sessiond?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refused.Close)

	for poolName, pool := range map[string]*pgxpool.Pool{"a closed pool": closed, "a closed port": refused} {
		s := postgres.NewStore(pool)
		for _, m := range []struct {
			name string
			call func(context.Context) error
		}{
			{"CreateTenant", func(ctx context.Context) error {
				return s.CreateTenant(ctx, tn, tenants.DefaultPolicy(), key, ak)
			}},
			{"GetTenant", func(ctx context.Context) error { _, err := s.GetTenant(ctx, "tn_a"); return err }},
			{"ListTenants", func(ctx context.Context) error { _, _, err := s.ListTenants(ctx, tenants.Page{}); return err }},
			{"UpdateTenant", func(ctx context.Context) error {
				_, err := s.UpdateTenant(ctx, "tn_a", tenants.TenantPatch{Name: &name}, now)
				return err
			}},
			{"DeleteTenant", func(ctx context.Context) error { return s.DeleteTenant(ctx, "tn_a", time.Now()) }},
			{"LoadState", func(ctx context.Context) error { _, err := s.LoadState(ctx, "tn_a"); return err }},
			{"LoadAllStates", func(ctx context.Context) error { _, err := s.LoadAllStates(ctx); return err }},
			{"PutPolicy", func(ctx context.Context) error { return s.PutPolicy(ctx, "tn_a", tenants.DefaultPolicy(), now) }},
			{"RotateKey", func(ctx context.Context) error { return s.RotateKey(ctx, "tn_a", key, now, time.Time{}, 0) }},
			{"RetireKey", func(ctx context.Context) error { _, err := s.RetireKey(ctx, "tn_a", key.ID, now); return err }},
			{"CreateAPIKey", func(ctx context.Context) error { return s.CreateAPIKey(ctx, ak) }},
			{"RevokeAPIKey", func(ctx context.Context) error { return s.RevokeAPIKey(ctx, "tn_a", ak.ID, now) }},
			{"WriteEvents", func(ctx context.Context) error {
				return s.WriteEvents(ctx, []events.Event{{TenantID: "tn_a", Type: events.SessionCreated, Time: now}})
			}},
			{"ListEvents", func(ctx context.Context) error {
				_, _, err := s.ListEvents(ctx, events.Filter{TenantID: "tn_a"})
				return err
			}},
			{"ClaimPurge", func(ctx context.Context) error { _, _, err := s.ClaimPurge(ctx, "pc_a", now, time.Minute); return err }},
			{"PurgeProgress", func(ctx context.Context) error { return s.PurgeProgress(ctx, "tn_a", "pc_a", 64, now, time.Minute) }},
			{"PurgeDone", func(ctx context.Context) error { return s.PurgeDone(ctx, "tn_a", "pc_a", now) }},
			{"PurgeFailed", func(ctx context.Context) error { return s.PurgeFailed(ctx, "tn_a", "pc_a", "x", now) }},
			{"PurgeJob", func(ctx context.Context) error { _, err := s.PurgeJob(ctx, "tn_a"); return err }},
			{"MigrationVersion", func(ctx context.Context) error { _, _, err := postgres.MigrationVersion(ctx, pool); return err }},
		} {
			t.Run(m.name+" on "+poolName+" is unavailable", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				wantCode(t, m.call(ctx), fault.Unavailable)
			})
		}
	}

	t.Run("a deadline that passes is unavailable", func(t *testing.T) {
		s := postgres.NewStore(pgtest.New(t))
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		_, err := s.GetTenant(ctx, "tn_a")
		wantCode(t, err, fault.Unavailable)
	})
}
