package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

func TestPurgeJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	suspended, active := tenants.Suspended, tenants.Active
	a := mustCreateTenant(t, s, sealer, "Acme", now)
	b := mustCreateTenant(t, s, sealer, "Globex", now)
	suspend := func(id string, at time.Time) {
		t.Helper()
		if _, err := s.UpdateTenant(ctx, id, tenants.TenantPatch{Status: &suspended}, at); err != nil {
			t.Fatal(err)
		}
	}
	job := func(id string) tenants.PurgeJob {
		t.Helper()
		j, err := s.PurgeJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	t.Run("a tenant that was never suspended has no job and resumes freely", func(t *testing.T) {
		_, err := s.PurgeJob(ctx, a.Tenant.ID)
		wantCode(t, err, fault.NotFound)
		if _, err := s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Status: &active}, now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("suspending stores a pending job with the status, and resuming is a conflict that changes nothing", func(t *testing.T) {
		suspend(a.Tenant.ID, now)
		if j := job(a.Tenant.ID); j.Reason != tenants.PurgeSuspend || !j.RequestedAt.Equal(now) || j.NextBucket != 0 || j.DoneAt != nil {
			t.Fatalf("job = %+v", j)
		}
		_, err := s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Status: &active}, now)
		wantCode(t, err, fault.Conflict)
		if got, _ := s.GetTenant(ctx, a.Tenant.ID); got.Status != tenants.Suspended {
			t.Fatalf("status = %s after a refused resume", got.Status)
		}
	})

	t.Run("two workers claiming at once get different jobs", func(t *testing.T) {
		suspend(b.Tenant.ID, now.Add(time.Second))
		var wg sync.WaitGroup
		got := make([]string, 2)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j, ok, err := s.ClaimPurge(ctx, []string{"pc_one", "pc_two"}[i], now, time.Minute)
				if err != nil || !ok {
					t.Errorf("claim %d = %v, %v", i, ok, err)
				}
				got[i] = j.TenantID
			}()
		}
		wg.Wait()
		if got[0] == got[1] {
			t.Fatalf("both workers claimed %s", got[0])
		}
		if _, ok, err := s.ClaimPurge(ctx, "pc_three", now, time.Minute); ok || err != nil {
			t.Fatalf("a third claim during the leases = %v, %v", ok, err)
		}
	})

	t.Run("only the current claim records progress; a new suspension restarts the job and drops the claim", func(t *testing.T) {
		claim := "pc_one"
		// Whichever claim holds A (the oldest job), take it over after its
		// lease.
		j, ok, err := s.ClaimPurge(ctx, claim, now.Add(time.Minute), time.Minute)
		if err != nil || !ok || j.TenantID != a.Tenant.ID {
			t.Fatalf("takeover = %v, %v", ok, err)
		}
		if err := s.PurgeProgress(ctx, j.TenantID, "pc_stale", 64, now, time.Minute); !fault.Is(err, fault.Conflict) {
			t.Fatalf("progress under a stale claim = %v, want conflict", err)
		}
		if err := s.PurgeProgress(ctx, j.TenantID, claim, 64, now, time.Minute); err != nil {
			t.Fatal(err)
		}
		suspend(j.TenantID, now.Add(2*time.Minute))
		if err := s.PurgeProgress(ctx, j.TenantID, claim, 128, now, time.Minute); !fault.Is(err, fault.Conflict) {
			t.Fatalf("progress after the job restarted = %v, want conflict", err)
		}
		if r := job(j.TenantID); r.NextBucket != 0 || r.DoneAt != nil {
			t.Fatalf("restarted job = %+v", r)
		}
	})

	t.Run("a deleted tenant's job outlives it", func(t *testing.T) {
		// B's job (the oldest, its lease over) is claimed first; finish it.
		if j, ok, err := s.ClaimPurge(ctx, "pc_b", now.Add(3*time.Minute), time.Minute); err != nil || !ok || j.TenantID != b.Tenant.ID {
			t.Fatalf("claim = %+v, %v, %v; want B's job", j, ok, err)
		}
		if err := s.PurgeDone(ctx, b.Tenant.ID, "pc_b", now.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTenant(ctx, a.Tenant.ID, now.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if j := job(a.Tenant.ID); j.Reason != tenants.PurgeDelete || j.DoneAt != nil || j.NextBucket != 0 {
			t.Fatalf("job after delete = %+v", j)
		}
		j, ok, err := s.ClaimPurge(ctx, "pc_del", now.Add(3*time.Minute), time.Minute)
		if err != nil || !ok || j.TenantID != a.Tenant.ID {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if err := s.PurgeDone(ctx, j.TenantID, "pc_del", now.Add(4*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if d := job(j.TenantID); d.DoneAt == nil || !d.DoneAt.Equal(now.Add(4*time.Minute)) {
			t.Fatalf("done job = %+v", d)
		}
	})
}
