package postgres_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

func TestTenantStoreRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	a := mustCreateTenant(t, s, sealer, "Acme", now)

	t.Run("a created tenant reads back as it was given", func(t *testing.T) {
		got, err := s.GetTenant(ctx, a.Tenant.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a.Tenant) {
			t.Fatalf("GetTenant = %+v, want %+v", got, a.Tenant)
		}
	})
	t.Run("a created tenant's state holds its policy, active key and API key", func(t *testing.T) {
		st := mustLoadState(t, s, a.Tenant.ID)
		if st.Tenant != a.Tenant {
			t.Errorf("tenant = %+v, want %+v", st.Tenant, a.Tenant)
		}
		if st.Policy != tenants.DefaultPolicy() {
			t.Errorf("policy = %+v, want the default", st.Policy)
		}
		wantKey := a.Key
		if len(st.Keys) != 1 || !reflect.DeepEqual(st.Keys[0], wantKey) {
			t.Errorf("keys = %+v, want [%+v]", st.Keys, wantKey)
		}
		opened, err := sealer.Open(st.Keys[0].SealedSecret, []byte(a.Tenant.ID+"/"+a.Key.ID))
		if err != nil || !slices.Equal(opened, a.KeySecret) {
			t.Errorf("the stored sealed secret does not open to the key's secret (err %v)", err)
		}
		if len(st.APIKeys) != 1 || !reflect.DeepEqual(st.APIKeys[0], a.APIKey) {
			t.Errorf("API keys = %+v, want [%+v]", st.APIKeys, a.APIKey)
		}
	})
	t.Run("a missing tenant is not found", func(t *testing.T) {
		_, err := s.GetTenant(ctx, "tn_missing")
		wantCode(t, err, fault.NotFound)
		_, err = s.LoadState(ctx, "tn_missing")
		wantCode(t, err, fault.NotFound)
	})
	t.Run("creating a tenant whose API key id is taken is a conflict and stores nothing", func(t *testing.T) {
		id := secrets.NewID(tenants.IDPrefix)
		k, _ := newKey(t, sealer, id, now)
		ak, _ := newAPIKey(t, id, now)
		ak.ID = a.APIKey.ID
		err := s.CreateTenant(ctx, tenants.Tenant{ID: id, Name: "Dup", Status: tenants.Active, CreatedAt: now, UpdatedAt: now}, tenants.DefaultPolicy(), k, ak)
		wantCode(t, err, fault.Conflict)
		_, err = s.GetTenant(ctx, id)
		wantCode(t, err, fault.NotFound)
	})
	t.Run("creating a tenant with a taken id is a conflict", func(t *testing.T) {
		k, _ := newKey(t, sealer, a.Tenant.ID, now)
		ak, _ := newAPIKey(t, a.Tenant.ID, now)
		wantCode(t, s.CreateTenant(ctx, a.Tenant, tenants.DefaultPolicy(), k, ak), fault.Conflict)
	})

	later := now.Add(time.Minute)
	t.Run("an update applies only the given fields and bumps updated_at", func(t *testing.T) {
		name := "Acme Corp"
		got, err := s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Name: &name}, later)
		if err != nil {
			t.Fatal(err)
		}
		want := a.Tenant
		want.Name, want.UpdatedAt = name, later
		if got != want {
			t.Fatalf("after renaming = %+v, want %+v", got, want)
		}
		suspended := tenants.Suspended
		got, err = s.UpdateTenant(ctx, a.Tenant.ID, tenants.TenantPatch{Status: &suspended}, later.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		want.Status, want.UpdatedAt = tenants.Suspended, later.Add(time.Second)
		if got != want {
			t.Fatalf("after suspending = %+v, want %+v", got, want)
		}
		if stored, _ := s.GetTenant(ctx, a.Tenant.ID); stored != want {
			t.Fatalf("stored = %+v, want %+v", stored, want)
		}
	})
	t.Run("updating a missing tenant is not found", func(t *testing.T) {
		name := "x"
		_, err := s.UpdateTenant(ctx, "tn_missing", tenants.TenantPatch{Name: &name}, later)
		wantCode(t, err, fault.NotFound)
	})
	t.Run("a put policy replaces the whole policy", func(t *testing.T) {
		p := tenants.Policy{
			IdleTimeout: 60, AbsoluteTimeout: 3600, MaxSessionsPerUser: 3, OnLimit: tenants.Reject, Rolling: false,
			Binding: tenants.Binding{UserAgent: tenants.BindingEnforce, IP: tenants.BindingReport}, MaxDataBytes: 1024,
		}
		if err := s.PutPolicy(ctx, a.Tenant.ID, p, later); err != nil {
			t.Fatal(err)
		}
		if got := mustLoadState(t, s, a.Tenant.ID).Policy; got != p {
			t.Fatalf("policy = %+v, want %+v", got, p)
		}
		wantCode(t, s.PutPolicy(ctx, "tn_missing", p, later), fault.NotFound)
	})
	t.Run("a created API key is listed newest first, and revoking it keeps it with revoked_at", func(t *testing.T) {
		ak, _, err := tenants.NewAPIKey(a.Tenant.ID, "ci", []tenants.Scope{tenants.ScopeSessions}, later)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAPIKey(ctx, ak); err != nil {
			t.Fatal(err)
		}
		st := mustLoadState(t, s, a.Tenant.ID)
		if len(st.APIKeys) != 2 || !reflect.DeepEqual(st.APIKeys[0], ak) {
			t.Fatalf("API keys = %+v, want the new one first", st.APIKeys)
		}
		revokedAt := later.Add(time.Second)
		if err := s.RevokeAPIKey(ctx, a.Tenant.ID, ak.ID, revokedAt); err != nil {
			t.Fatal(err)
		}
		got := mustLoadState(t, s, a.Tenant.ID).APIKeys[0]
		if got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) {
			t.Fatalf("revoked_at = %v, want %v", got.RevokedAt, revokedAt)
		}
		wantCode(t, s.RevokeAPIKey(ctx, a.Tenant.ID, ak.ID, revokedAt), fault.NotFound)
	})
	t.Run("an API key of a missing tenant is not found, and a taken id is a conflict", func(t *testing.T) {
		ak, _ := newAPIKey(t, "tn_missing", later)
		wantCode(t, s.CreateAPIKey(ctx, ak), fault.NotFound)
		dup, _ := newAPIKey(t, a.Tenant.ID, later)
		dup.ID = a.APIKey.ID
		wantCode(t, s.CreateAPIKey(ctx, dup), fault.Conflict)
	})
	t.Run("a rotation moves the active key to retiring and stores the next one as active", func(t *testing.T) {
		next, _ := newKey(t, sealer, a.Tenant.ID, later)
		retiresAt := later.Add(8 * time.Hour)
		if err := s.RotateKey(ctx, a.Tenant.ID, next, retiresAt, time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
		keys := mustLoadState(t, s, a.Tenant.ID).Keys
		if len(keys) != 2 || !reflect.DeepEqual(keys[0], next) {
			t.Fatalf("keys = %+v, want the new key first", keys)
		}
		old := keys[1]
		if old.ID != a.Key.ID || old.State != tenants.KeyRetiring || old.RetiresAt == nil || !old.RetiresAt.Equal(retiresAt) {
			t.Fatalf("old key = %+v, want retiring until %v", old, retiresAt)
		}
		wantCode(t, s.RotateKey(ctx, "tn_missing", next, retiresAt, time.Time{}, 0), fault.NotFound)
	})
	t.Run("loading all states includes every tenant with its keys and API keys", func(t *testing.T) {
		b := mustCreateTenant(t, s, sealer, "Beta", later)
		all, err := s.LoadAllStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[0].Tenant.ID != a.Tenant.ID || all[1].Tenant.ID != b.Tenant.ID {
			t.Fatalf("LoadAllStates returned %d states, want Acme then Beta", len(all))
		}
		for _, st := range all {
			if want := mustLoadState(t, s, st.Tenant.ID); !reflect.DeepEqual(st, want) {
				t.Errorf("LoadAllStates[%s] = %+v, want LoadState's %+v", st.Tenant.ID, st, want)
			}
		}
	})
	t.Run("deleting a tenant removes it and everything it owns", func(t *testing.T) {
		if err := s.DeleteTenant(ctx, a.Tenant.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetTenant(ctx, a.Tenant.ID)
		wantCode(t, err, fault.NotFound)
		wantCode(t, s.DeleteTenant(ctx, a.Tenant.ID, time.Now()), fault.NotFound)
		all, err := s.LoadAllStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].Tenant.ID == a.Tenant.ID {
			t.Fatalf("after delete, states = %+v", all)
		}
	})
}

func TestListTenantsPagesInCreationOrderWithoutTheSystemTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	var want []string
	for i := range 7 {
		if i == 3 {
			mustCreateTenantID(t, s, sealer, tenants.SystemTenantID, "system", now)
		}
		// Same created_at on purpose: the order must not depend on the clock.
		want = append(want, mustCreateTenant(t, s, sealer, "t", now).Tenant.ID)
	}

	for _, limit := range []int{1, 2, 3, 7, 50} {
		var got []string
		cursor, pages := "", 0
		for {
			page, next, err := s.ListTenants(ctx, tenants.Page{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, tn := range page {
				got = append(got, tn.ID)
			}
			if next == "" {
				break
			}
			if len(page) != limit {
				t.Fatalf("limit %d: a page before the last has %d tenants", limit, len(page))
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: listed %v, want %v", limit, got, want)
		}
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d (no empty last page)", limit, pages, wantPages)
		}
	}

	t.Run("a malformed cursor is an invalid request naming the cursor", func(t *testing.T) {
		for _, c := range []string{"!!", "bm90LWEtY3Vyc29y", encodeEventsCursorLike(t, s)} {
			_, _, err := s.ListTenants(ctx, tenants.Page{Cursor: c})
			wantCode(t, err, fault.InvalidRequest)
			var fe *fault.Error
			if !asFault(err, &fe) || len(fe.Fields) != 1 || fe.Fields[0].Field != "cursor" {
				t.Fatalf("cursor %q: error %v does not name the cursor field", c, err)
			}
		}
	})
}

// TestTenantsCannotReachEachOthersRows gives every method tenant B's id with
// tenant A's key and API key ids: each must be NotFound and change nothing.
func TestTenantsCannotReachEachOthersRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	a := mustCreateTenant(t, s, sealer, "A", now)
	// A gets a retiring key too, so RetireKey has something to retire.
	next, _ := newKey(t, sealer, a.Tenant.ID, now)
	if err := s.RotateKey(ctx, a.Tenant.ID, next, now.Add(time.Hour), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	b := mustCreateTenant(t, s, sealer, "B", now)
	beforeA := mustLoadState(t, s, a.Tenant.ID)
	beforeB := mustLoadState(t, s, b.Tenant.ID)
	later := now.Add(time.Minute)

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"B cannot retire A's retiring key", func() error {
			_, err := s.RetireKey(ctx, b.Tenant.ID, a.Key.ID, later)
			return err
		}},
		{"B cannot retire A's active key", func() error {
			_, err := s.RetireKey(ctx, b.Tenant.ID, next.ID, later)
			return err
		}},
		{"B cannot revoke A's API key", func() error {
			return s.RevokeAPIKey(ctx, b.Tenant.ID, a.APIKey.ID, later)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), fault.NotFound) })
	}

	t.Run("an API key created for B under A's key id is a conflict, not a takeover", func(t *testing.T) {
		ak, _ := newAPIKey(t, b.Tenant.ID, later)
		ak.ID = a.APIKey.ID
		wantCode(t, s.CreateAPIKey(ctx, ak), fault.Conflict)
	})
	t.Run("a rotation for B reusing A's kid stores B's own key and leaves A's alone", func(t *testing.T) {
		// kids are unique per tenant: B may hold the same kid without
		// touching A's row.
		k, _ := newKey(t, sealer, b.Tenant.ID, later)
		k.ID = a.Key.ID
		if err := s.RotateKey(ctx, b.Tenant.ID, k, later.Add(time.Hour), time.Time{}, 0); err != nil {
			t.Fatal(err)
		}
		beforeB = mustLoadState(t, s, b.Tenant.ID)
		if beforeB.Keys[0].ID != a.Key.ID || beforeB.Keys[0].TenantID != b.Tenant.ID {
			t.Fatalf("B's keys = %+v", beforeB.Keys)
		}
	})
	t.Run("A's state is unchanged", func(t *testing.T) {
		if got := mustLoadState(t, s, a.Tenant.ID); !reflect.DeepEqual(got, beforeA) {
			t.Fatalf("A's state changed:\n got %+v\nwant %+v", got, beforeA)
		}
	})
	t.Run("B's state holds only B's rows", func(t *testing.T) {
		got := mustLoadState(t, s, b.Tenant.ID)
		if !reflect.DeepEqual(got, beforeB) {
			t.Fatalf("B's state changed:\n got %+v\nwant %+v", got, beforeB)
		}
		for _, k := range got.Keys {
			if k.TenantID != b.Tenant.ID {
				t.Errorf("B's state holds key %+v", k)
			}
		}
		for _, k := range got.APIKeys {
			if k.TenantID != b.Tenant.ID || k.ID == a.APIKey.ID {
				t.Errorf("B's state holds API key %+v", k)
			}
		}
	})
}

func TestRotateKeyLeavesExactlyOneActiveKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	a := mustCreateTenant(t, s, sealer, "A", now)

	t.Run("after sequential rotations", func(t *testing.T) {
		var last tenants.Key
		for range 3 {
			last, _ = newKey(t, sealer, a.Tenant.ID, now)
			if err := s.RotateKey(ctx, a.Tenant.ID, last, now.Add(time.Hour), time.Time{}, 0); err != nil {
				t.Fatal(err)
			}
		}
		keys := mustLoadState(t, s, a.Tenant.ID).Keys
		if act := activeKeys(keys); len(act) != 1 || act[0].ID != last.ID {
			t.Fatalf("active keys = %+v, want only %s", act, last.ID)
		}
		if keys[0].ID != last.ID {
			t.Fatalf("keys are not newest first: %+v", keys)
		}
		if len(keys) != 4 {
			t.Fatalf("%d keys, want 4", len(keys))
		}
	})
	t.Run("after concurrent rotations", func(t *testing.T) {
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			k, _ := newKey(t, sealer, a.Tenant.ID, now)
			wg.Go(func() { errs[i] = s.RotateKey(ctx, a.Tenant.ID, k, now.Add(time.Hour), time.Time{}, 0) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		keys := mustLoadState(t, s, a.Tenant.ID).Keys
		if len(keys) != 4+n || len(activeKeys(keys)) != 1 {
			t.Fatalf("%d keys with %d active, want %d with 1", len(keys), len(activeKeys(keys)), 4+n)
		}
	})
}

func TestRetireKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustStore(t)
	sealer := mustSealer(t)
	now := testNow()
	a := mustCreateTenant(t, s, sealer, "A", now)
	first := a.Key
	second, _ := newKey(t, sealer, a.Tenant.ID, now)
	if err := s.RotateKey(ctx, a.Tenant.ID, second, now.Add(time.Hour), time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	third, _ := newKey(t, sealer, a.Tenant.ID, now)
	graceEnded := now.Add(-time.Minute)
	if err := s.RotateKey(ctx, a.Tenant.ID, third, graceEnded, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	// Now: third active, second retiring until now-1m (grace over), first retiring until now+1h.
	retireAt := now.Add(time.Second)

	t.Run("the active key is a conflict: rotate first", func(t *testing.T) {
		_, err := s.RetireKey(ctx, a.Tenant.ID, third.ID, retireAt)
		wantCode(t, err, fault.Conflict)
		if act := activeKeys(mustLoadState(t, s, a.Tenant.ID).Keys); len(act) != 1 || act[0].ID != third.ID {
			t.Fatalf("active keys = %+v", act)
		}
	})
	t.Run("a retiring key becomes retired now", func(t *testing.T) {
		k, err := s.RetireKey(ctx, a.Tenant.ID, first.ID, retireAt)
		if err != nil {
			t.Fatal(err)
		}
		if k.ID != first.ID || k.TenantID != a.Tenant.ID || k.State != tenants.KeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(retireAt) {
			t.Fatalf("retired key = %+v, want retired at %v", k, retireAt)
		}
	})
	t.Run("a key whose grace has ended is retired as of the end of its grace", func(t *testing.T) {
		k, err := s.RetireKey(ctx, a.Tenant.ID, second.ID, retireAt)
		if err != nil {
			t.Fatal(err)
		}
		if k.State != tenants.KeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(graceEnded) {
			t.Fatalf("retired key = %+v, want retired at %v", k, graceEnded)
		}
	})
	t.Run("an already retired key is returned unchanged", func(t *testing.T) {
		k, err := s.RetireKey(ctx, a.Tenant.ID, first.ID, retireAt.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if k.State != tenants.KeyRetired || !k.RetiredAt.Equal(retireAt) {
			t.Fatalf("re-retired key = %+v, want retired at %v still", k, retireAt)
		}
	})
	t.Run("an unknown kid is not found", func(t *testing.T) {
		_, err := s.RetireKey(ctx, a.Tenant.ID, "k_unknown", retireAt)
		wantCode(t, err, fault.NotFound)
	})
}
