package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// A tenant's ceilings start empty (every deployment default); UpdateTenant
// sets numbers and removes nulls without touching the others, and every
// read returns them.
func TestTenantLimitOverrides(t *testing.T) {
	ctx := context.Background()
	s, sealer, now := mustStore(t), mustSealer(t), testNow()
	a := mustCreateTenant(t, s, sealer, "Acme", now)
	if got := mustLoadState(t, s, a.Tenant.ID).Tenant.Limits; got != (tenants.LimitOverrides{}) {
		t.Fatalf("a new tenant's overrides = %+v", got)
	}
	n := func(v int) *int { return &v }
	if _, err := s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Limits: tenants.LimitsPatch{"requests_per_second": n(50), "retiring_keys": n(3)}}, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Limits: tenants.LimitsPatch{"retiring_keys": nil, "max_data_bytes": n(1024)}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := tenants.LimitOverrides{RequestsPerSecond: n(50), MaxDataBytes: n(1024)}
	check := func(where string, o tenants.LimitOverrides) {
		t.Helper()
		if o.Apply(tenants.Limits{}) != want.Apply(tenants.Limits{}) || o.RetiringKeys != nil {
			t.Fatalf("%s: overrides = %+v, want %+v", where, o.Apply(tenants.Limits{}), want.Apply(tenants.Limits{}))
		}
	}
	check("UpdateTenant", got.Limits)
	check("LoadState", mustLoadState(t, s, a.Tenant.ID).Tenant.Limits)
	tn, err := s.GetTenant(ctx, a.Tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	check("GetTenant", tn.Limits)
	all, err := s.LoadAllStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all {
		if st.Tenant.ID == a.Tenant.ID {
			check("LoadAllStates", st.Tenant.Limits)
		}
	}
	list, _, err := s.ListTenants(ctx, tenants.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list = %v %v", list, err)
	}
	check("ListTenants", list[0].Limits)
}

// With a retiring-keys ceiling, concurrent rotations stop at it: the check
// runs under the keyring's lock. Keys whose grace ended do not count.
func TestRotateKeyStopsAtTheRetiringCeiling(t *testing.T) {
	ctx := context.Background()
	s, sealer, now := mustStore(t), mustSealer(t), testNow()
	a := mustCreateTenant(t, s, sealer, "Acme", now)
	const n, ceiling = 8, 3
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		k, _ := newKey(t, sealer, a.Tenant.ID, now)
		wg.Go(func() { errs[i] = s.RotateKey(ctx, a.Tenant.ID, k, now.Add(time.Hour), now, ceiling) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !fault.Is(err, fault.Conflict):
			t.Fatalf("rotation: %v", err)
		}
	}
	if ok != ceiling {
		t.Fatalf("%d of %d concurrent rotations succeeded, want %d", ok, n, ceiling)
	}
	k, _ := newKey(t, sealer, a.Tenant.ID, now)
	if err := s.RotateKey(ctx, a.Tenant.ID, k, now.Add(2*time.Hour), now.Add(time.Hour), ceiling); err != nil {
		t.Fatalf("a rotation once the grace periods ended: %v", err)
	}
}

// A rotation marks retired the retiring keys whose grace ended, so the
// cache stops decrypting them; keys still in their grace are kept.
func TestRotateKeyRetiresEndedKeys(t *testing.T) {
	ctx := context.Background()
	s, sealer, now := mustStore(t), mustSealer(t), testNow()
	a := mustCreateTenant(t, s, sealer, "Acme", now)
	for _, grace := range []time.Duration{0, time.Hour} {
		k, _ := newKey(t, sealer, a.Tenant.ID, now)
		if err := s.RotateKey(ctx, a.Tenant.ID, k, now.Add(grace), now, 0); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := newKey(t, sealer, a.Tenant.ID, now)
	if err := s.RotateKey(ctx, a.Tenant.ID, k, now.Add(time.Hour), now.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	states := map[tenants.KeyState]int{}
	for _, k := range mustLoadState(t, s, a.Tenant.ID).Keys {
		states[k.State]++
		if k.State == tenants.KeyRetired && (k.RetiredAt == nil || !k.RetiredAt.Equal(now)) {
			t.Fatalf("retired key %+v: retired_at should be the end of its grace", k)
		}
	}
	if states[tenants.KeyActive] != 1 || states[tenants.KeyRetiring] != 2 || states[tenants.KeyRetired] != 1 {
		t.Fatalf("key states = %v, want 1 active, 2 retiring (in grace), 1 retired", states)
	}
}
