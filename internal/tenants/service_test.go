package tenants_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// cheapPasswords keep argon2id fast under -race.
var cheapPasswords = passwords.Params{Memory: 256, Time: 1, Threads: 1}

var testActor = tenants.Actor{Name: "operator", IP: "203.0.113.7", UserAgent: "tests/1"}

// publishLog is a Notifier that keeps the tenant ids it publishes.
type publishLog struct {
	mu  sync.Mutex
	ids []string
}

func (p *publishLog) Publish(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
	return nil
}

func (p *publishLog) Subscribe(context.Context, tenants.Listener) {}

func (p *publishLog) Take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.ids
	p.ids = nil
	return out
}

// purgeLog is a SessionPurger that reports every purge on a channel and
// completes it at once.
type purgeLog struct{ purged chan string }

func (p *purgeLog) PurgeTenant(_ context.Context, id string, _ int, progress func(int) error) error {
	p.purged <- id
	return progress(1024)
}

// Take returns the purges so far, waiting up to wait for at least one when
// wait is positive.
func (p *purgeLog) Take(wait time.Duration) []string {
	var out []string
	if wait > 0 {
		select {
		case id := <-p.purged:
			out = append(out, id)
		case <-time.After(wait):
			return nil
		}
	}
	for {
		select {
		case id := <-p.purged:
			out = append(out, id)
		default:
			return out
		}
	}
}

// endLog records the admins whose sessions EndAdminSessions ended.
type endLog struct {
	mu  sync.Mutex
	ids []string
}

func (e *endLog) End(_ context.Context, adminID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids = append(e.ids, adminID)
	return nil
}

func (e *endLog) Take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.ids
	e.ids = nil
	return out
}

// harness is a Service over the real PostgreSQL store in a fresh schema, with
// an injected clock and recording collaborators.
type harness struct {
	svc       *tenants.Service
	store     *postgres.Store
	clock     *testkit.Clock
	events    *testkit.Events
	published *publishLog
	purges    *purgeLog
	worker    *tenants.PurgeWorker
	ended     *endLog
}

// MustHarness returns a harness on a fresh, migrated schema whose cache is
// loaded.
func MustHarness(tb testing.TB) *harness {
	tb.Helper()
	store := postgres.NewStore(pgtest.New(tb))
	sealer, err := secrets.NewSealer(secrets.Random(secrets.MasterKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &harness{
		store: store, clock: testkit.NewClock(), events: &testkit.Events{}, published: &publishLog{},
		purges: &purgeLog{purged: make(chan string, 16)}, ended: &endLog{},
	}
	h.worker = tenants.NewPurgeWorker(store, h.purges, log, h.clock.Now)
	h.svc = &tenants.Service{
		Store: store, Cache: tenants.NewCache(store, sealer, log, tenants.CacheOptions{}), Sealer: sealer,
		Notifier: h.published, Events: h.events, Purges: h.worker,
		EndAdminSessions: h.ended.End, Log: log, Now: h.clock.Now,
		Admins: store, Passwords: cheapPasswords,
	}
	if err := h.svc.Cache.LoadAll(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return h
}

// MustDrain runs the purge worker until no job is claimable (the harness
// runs no worker in the background).
func (h *harness) MustDrain(tb testing.TB) {
	tb.Helper()
	if err := h.worker.Drain(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// MustPurgeJob returns the tenant's purge job.
func (h *harness) MustPurgeJob(tb testing.TB, id string) tenants.PurgeJob {
	tb.Helper()
	j, err := h.store.PurgeJob(context.Background(), id)
	if err != nil {
		tb.Fatalf("purge job of %s: %v", id, err)
	}
	return j
}

// MustTenant creates a tenant and returns it with its first API key and
// secret, forgetting the events and notices of the creation.
func (h *harness) MustTenant(tb testing.TB, name string) (tenants.Tenant, tenants.APIKey, string) {
	tb.Helper()
	tn, ak, secret, err := h.svc.CreateTenant(context.Background(), name, testActor)
	if err != nil {
		tb.Fatalf("create tenant %q: %v", name, err)
	}
	h.events.Take()
	h.published.Take()
	return tn, ak, secret
}

// MustSnapshot returns the cached snapshot of a tenant.
func (h *harness) MustSnapshot(tb testing.TB, id string) *tenants.Snapshot {
	tb.Helper()
	snap, ok := h.svc.Cache.Tenant(id)
	if !ok {
		tb.Fatalf("tenant %s is not in the cache", id)
	}
	return snap
}

// MustEvents fails the test unless exactly the events want (type and
// detail) were recorded since the last check, for tenantID, by testActor,
// at the clock's time.
func (h *harness) MustEvents(tb testing.TB, tenantID string, want ...events.Event) {
	tb.Helper()
	got := h.events.Take()
	if len(got) != len(want) {
		tb.Fatalf("recorded %d events %v, want %d %v", len(got), eventTypes(got), len(want), eventTypes(want))
	}
	now := h.clock.Now().UTC()
	for i, e := range got {
		w := want[i]
		if e.Type != w.Type || !maps.Equal(e.Detail, w.Detail) {
			tb.Errorf("event %d = %s %v, want %s %v", i, e.Type, e.Detail, w.Type, w.Detail)
		}
		if e.TenantID != tenantID || e.Actor != testActor.Name || e.IP != testActor.IP || e.UserAgent != testActor.UserAgent {
			tb.Errorf("event %d is about %q by %q from %q %q, want %q by %+v", i, e.TenantID, e.Actor, e.IP, e.UserAgent, tenantID, testActor)
		}
		if !e.Time.Equal(now) || e.Time.Location() != time.UTC {
			tb.Errorf("event %d time = %v, want %v in UTC", i, e.Time, now)
		}
	}
}

func eventTypes(es []events.Event) []events.Type {
	var out []events.Type
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

func ev(t events.Type, kv ...string) events.Event {
	var d map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		if d == nil {
			d = map[string]string{}
		}
		d[kv[i]] = kv[i+1]
	}
	return events.Event{Type: t, Detail: d}
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)

	t.Run("a new tenant is active, stored, cached with the default policy and one active key", func(t *testing.T) {
		tn, ak, secret, err := h.svc.CreateTenant(ctx, "Acme", testActor)
		if err != nil {
			t.Fatal(err)
		}
		now := h.clock.Now().UTC()
		if !strings.HasPrefix(tn.ID, tenants.IDPrefix) || tn.Name != "Acme" || tn.Status != tenants.Active ||
			!tn.CreatedAt.Equal(now) || !tn.UpdatedAt.Equal(now) {
			t.Fatalf("tenant = %+v, want an active tn_ tenant named Acme created at %v", tn, now)
		}
		stored, err := h.svc.GetTenant(ctx, tn.ID)
		if err != nil || stored != tn {
			t.Fatalf("GetTenant = %+v, %v; want %+v", stored, err, tn)
		}
		snap := h.MustSnapshot(t, tn.ID)
		if snap.Policy != tenants.DefaultPolicy() {
			t.Errorf("policy = %+v, want the default", snap.Policy)
		}
		if len(snap.Keys) != 1 {
			t.Fatalf("keyring has %d keys, want 1", len(snap.Keys))
		}
		k := snap.Keys[0]
		if k.State != tenants.KeyActive || !strings.HasPrefix(k.ID, tenants.KeyIDPrefix) || len(k.Secret) != tenants.KeySecretSize ||
			!k.CreatedAt.Equal(now) || k.RetiresAt != nil || k.RetiredAt != nil {
			t.Errorf("first key = %+v, want an active k_ key with a 32-byte secret created now", k)
		}
		if active, ok := snap.ActiveKey(); !ok || active.ID != k.ID {
			t.Errorf("ActiveKey() = %s, %v, want %s", active.ID, ok, k.ID)
		}

		if ak.Name != "default" || ak.TenantID != tn.ID || !slices.Equal(ak.Scopes, []tenants.Scope{tenants.ScopeSessions, tenants.ScopeAdmin}) {
			t.Errorf("first API key = %+v, want 'default' with both scopes", ak)
		}
		if len(snap.APIKeys) != 1 || snap.APIKeys[0].ID != ak.ID {
			t.Errorf("cached API keys = %+v, want just %s", snap.APIKeys, ak.ID)
		}
		p, err := h.svc.Cache.Authenticate(secret)
		if err != nil {
			t.Fatalf("the first API key does not authenticate: %v", err)
		}
		if p.TenantID != tn.ID || p.APIKeyID != ak.ID || !p.Has(tenants.ScopeSessions) || !p.Has(tenants.ScopeAdmin) {
			t.Errorf("principal = %+v, want tenant %s, key %s, both scopes", p, tn.ID, ak.ID)
		}
		h.MustEvents(t, tn.ID, ev(events.TenantCreated), ev(events.APIKeyCreated, "api_key_id", ak.ID))
		if got := h.published.Take(); !slices.Equal(got, []string{tn.ID}) {
			t.Errorf("published %v, want [%s]", got, tn.ID)
		}
	})

	t.Run("two tenants get different ids and keys", func(t *testing.T) {
		a, _, sa := h.MustTenant(t, "Same")
		b, _, sb := h.MustTenant(t, "Same")
		if a.ID == b.ID || sa == sb {
			t.Fatalf("tenants collide: %s %s", a.ID, b.ID)
		}
		ka, _ := h.MustSnapshot(t, a.ID).ActiveKey()
		kb, _ := h.MustSnapshot(t, b.ID).ActiveKey()
		if string(ka.Secret) == string(kb.Secret) {
			t.Fatal("two tenants share a signing secret")
		}
	})

	invalid := []struct{ name, tenant string }{
		{"an empty name", ""},
		{"a name of spaces", "   "},
		{"a name with a NUL byte", "Ac\x00me"},
		{"a name of invalid UTF-8", "Acme\xff"},
		{"a name of 101 characters", strings.Repeat("x", 101)},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused and nothing is stored", func(t *testing.T) {
			before := h.svc.Cache.Len()
			_, _, secret, err := h.svc.CreateTenant(ctx, tt.tenant, testActor)
			MustInvalidFields(t, err, "name")
			if secret != "" || h.svc.Cache.Len() != before {
				t.Fatalf("a refused tenant left a secret %q or a cache entry", secret)
			}
			list, _, err := h.svc.ListTenants(ctx, tenants.Page{Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != before {
				t.Fatalf("store holds %d tenants, want %d", len(list), before)
			}
			h.MustEvents(t, "")
		})
	}
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	tn, _, secret := h.MustTenant(t, "Acme")

	t.Run("a rename changes the name and updated_at, and is recorded", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		got, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Name: testkit.Ptr("Acme Corp")}, testActor)
		if err != nil {
			t.Fatal(err)
		}
		now := h.clock.Now().UTC()
		if got.Name != "Acme Corp" || got.Status != tenants.Active || !got.UpdatedAt.Equal(now) || !got.CreatedAt.Equal(tn.CreatedAt) {
			t.Fatalf("tenant = %+v, want Acme Corp, active, updated %v", got, now)
		}
		if snap := h.MustSnapshot(t, tn.ID); snap.Tenant.Name != "Acme Corp" {
			t.Errorf("cached name = %q, want Acme Corp", snap.Tenant.Name)
		}
		h.MustDrain(t)
		if len(h.purges.Take(0)) != 0 {
			t.Error("a rename purged sessions")
		}
		if _, err := h.store.PurgeJob(ctx, tn.ID); !fault.Is(err, fault.NotFound) {
			t.Errorf("a rename stored a purge job (%v)", err)
		}
		h.MustEvents(t, tn.ID, ev(events.TenantUpdated, "name", "Acme Corp"))
	})

	t.Run("suspending stores a pending purge job with the status, and its API keys get forbidden", func(t *testing.T) {
		got, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Suspended)}, testActor)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tenants.Suspended {
			t.Fatalf("status = %s, want suspended", got.Status)
		}
		if j := h.MustPurgeJob(t, tn.ID); j.DoneAt != nil || j.Reason != tenants.PurgeSuspend || j.NextBucket != 0 {
			t.Fatalf("purge job = %+v, want a pending suspend job", j)
		}
		if _, err := h.svc.Cache.Authenticate(secret); !fault.Is(err, fault.Forbidden) {
			t.Fatalf("Authenticate on a suspended tenant = %v, want forbidden", err)
		}
		h.MustEvents(t, tn.ID, ev(events.TenantUpdated, "status", "suspended"))
	})

	t.Run("resuming before the purge has completed is a conflict and changes nothing", func(t *testing.T) {
		_, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Active)}, testActor)
		MustFault(t, err, fault.Conflict)
		if st, _ := h.store.GetTenant(ctx, tn.ID); st.Status != tenants.Suspended {
			t.Fatalf("status = %s after a refused resume", st.Status)
		}
		h.MustEvents(t, "")
	})

	t.Run("the worker completes the purge and GetTenant shows it", func(t *testing.T) {
		h.MustDrain(t)
		if purged := h.purges.Take(0); !slices.Equal(purged, []string{tn.ID}) {
			t.Fatalf("purged %v, want [%s]", purged, tn.ID)
		}
		got, err := h.svc.GetTenant(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Purge == nil || got.Purge.State != "done" || got.Purge.NextBucket != 1024 || got.Purge.DoneAt == nil {
			t.Fatalf("purge = %+v, want done", got.Purge)
		}
	})

	t.Run("resuming restores the API keys without purging again", func(t *testing.T) {
		if _, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Active)}, testActor); err != nil {
			t.Fatal(err)
		}
		h.MustDrain(t)
		if purged := h.purges.Take(0); len(purged) != 0 {
			t.Fatalf("resuming purged %v", purged)
		}
		if p, err := h.svc.Cache.Authenticate(secret); err != nil || p.TenantID != tn.ID {
			t.Fatalf("Authenticate after resuming = %+v, %v", p, err)
		}
		h.MustEvents(t, tn.ID, ev(events.TenantUpdated, "status", "active"))
	})

	bad := []struct {
		name  string
		id    string
		patch tenants.TenantPatch
		code  fault.Code
		field string
	}{
		{"an unknown status is invalid", tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Status("deleted"))}, fault.InvalidRequest, "status"},
		{"an invalid new name is invalid", tn.ID, tenants.TenantPatch{Name: testkit.Ptr("a\nb")}, fault.InvalidRequest, "name"},
		{"an unknown tenant is not found", "tn_aaaaaaaaaaaaaaaa", tenants.TenantPatch{Name: testkit.Ptr("X")}, fault.NotFound, ""},
		{"the system tenant is not found", tenants.SystemTenantID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Suspended)}, fault.NotFound, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name+" and nothing changes", func(t *testing.T) {
			before, err := h.store.GetTenant(ctx, tn.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.svc.UpdateTenant(ctx, tt.id, tt.patch, testActor)
			fe := MustFault(t, err, tt.code)
			if tt.field != "" && !slices.Equal(fieldNames(fe), []string{tt.field}) {
				t.Errorf("fields = %v, want [%s]", fieldNames(fe), tt.field)
			}
			if after, _ := h.store.GetTenant(ctx, tn.ID); after != before {
				t.Errorf("tenant changed from %+v to %+v", before, after)
			}
			h.MustDrain(t)
			if purged := h.purges.Take(0); len(purged) != 0 {
				t.Errorf("purged %v", purged)
			}
			h.MustEvents(t, "")
		})
	}
}

func TestSystemTenantIsHidden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	p, err := tenants.SystemPolicy(15*time.Minute, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.EnsureSystemTenant(ctx, h.store, p); err != nil {
		t.Fatal(err)
	}
	tn, _, _ := h.MustTenant(t, "Acme")

	t.Run("the system tenant exists in the cache with its policy and an active key", func(t *testing.T) {
		snap := h.MustSnapshot(t, tenants.SystemTenantID)
		if snap.Policy != p || snap.Tenant.Status != tenants.Active || len(snap.APIKeys) != 0 {
			t.Fatalf("system snapshot = %+v", snap)
		}
		if _, ok := snap.ActiveKey(); !ok {
			t.Fatal("the system tenant has no active key")
		}
	})
	t.Run("getting the system tenant is not found", func(t *testing.T) {
		_, err := h.svc.GetTenant(ctx, tenants.SystemTenantID)
		MustFault(t, err, fault.NotFound)
	})
	t.Run("suspending the system tenant is not found and it stays active", func(t *testing.T) {
		_, err := h.svc.UpdateTenant(ctx, tenants.SystemTenantID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Suspended)}, testActor)
		MustFault(t, err, fault.NotFound)
		if st, _ := h.store.GetTenant(ctx, tenants.SystemTenantID); st.Status != tenants.Active {
			t.Fatalf("system tenant status = %s", st.Status)
		}
	})
	t.Run("deleting the system tenant is not found and it stays", func(t *testing.T) {
		MustFault(t, h.svc.DeleteTenant(ctx, tenants.SystemTenantID), fault.NotFound)
		if _, ok := h.svc.Cache.Tenant(tenants.SystemTenantID); !ok {
			t.Fatal("the system tenant left the cache")
		}
	})
	t.Run("listing tenants leaves out the system tenant", func(t *testing.T) {
		list, next, err := h.svc.ListTenants(ctx, tenants.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != tn.ID || next != "" {
			t.Fatalf("ListTenants = %+v, %q; want just %s", list, next, tn.ID)
		}
	})
	t.Run("ensuring it again keeps its active key", func(t *testing.T) {
		before, _ := h.MustSnapshot(t, tenants.SystemTenantID).ActiveKey()
		if err := h.svc.EnsureSystemTenant(ctx, h.store, p); err != nil {
			t.Fatal(err)
		}
		snap := h.MustSnapshot(t, tenants.SystemTenantID)
		after, _ := snap.ActiveKey()
		if after.ID != before.ID || len(snap.Keys) != 1 {
			t.Fatalf("active key %s became %s (%d keys)", before.ID, after.ID, len(snap.Keys))
		}
	})
	h.MustEvents(t, "")
}

func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	tn, _, secret := h.MustTenant(t, "Doomed")
	other, _, otherSecret := h.MustTenant(t, "Survivor")

	t.Run("a deleted tenant is gone from the store and the cache, its key stops working and its sessions are purged", func(t *testing.T) {
		if err := h.svc.DeleteTenant(ctx, tn.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.GetTenant(ctx, tn.ID); !fault.Is(err, fault.NotFound) {
			t.Errorf("GetTenant after delete = %v, want not found", err)
		}
		if _, ok := h.svc.Cache.Tenant(tn.ID); ok {
			t.Error("the deleted tenant is still cached")
		}
		if _, err := h.svc.Cache.Authenticate(secret); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("Authenticate with a deleted tenant's key = %v, want unauthorized", err)
		}
		if j := h.MustPurgeJob(t, tn.ID); j.DoneAt != nil || j.Reason != tenants.PurgeDelete {
			t.Errorf("purge job = %+v, want a pending delete job", j)
		}
		h.MustDrain(t)
		if purged := h.purges.Take(0); !slices.Equal(purged, []string{tn.ID}) {
			t.Errorf("purged %v, want [%s]", purged, tn.ID)
		}
		if j := h.MustPurgeJob(t, tn.ID); j.DoneAt == nil {
			t.Errorf("purge job = %+v, want done", j)
		}
		if got := h.published.Take(); !slices.Equal(got, []string{tn.ID}) {
			t.Errorf("published %v, want [%s]", got, tn.ID)
		}
	})
	t.Run("other tenants are untouched", func(t *testing.T) {
		if p, err := h.svc.Cache.Authenticate(otherSecret); err != nil || p.TenantID != other.ID {
			t.Fatalf("Authenticate(other) = %+v, %v", p, err)
		}
	})
	t.Run("deleting it again is not found and purges nothing", func(t *testing.T) {
		MustFault(t, h.svc.DeleteTenant(ctx, tn.ID), fault.NotFound)
		h.MustDrain(t)
		if purged := h.purges.Take(0); len(purged) != 0 {
			t.Fatalf("purged %v", purged)
		}
	})
}

func TestPutPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	tn, _, _ := h.MustTenant(t, "Acme")
	custom := tenants.Policy{
		IdleTimeout: 300, AbsoluteTimeout: 3600, MaxSessionsPerUser: 3, OnLimit: tenants.Reject, Rolling: false,
		Binding:      tenants.Binding{UserAgent: tenants.BindingEnforce, IP: tenants.BindingReport},
		MaxDataBytes: 1024, MinAAL: 2,
		RememberMe:    tenants.Lifetime{IdleTimeout: 86400, AbsoluteTimeout: 30 * 86400},
		Impersonation: tenants.Lifetime{IdleTimeout: 300, AbsoluteTimeout: 1800},
	}

	t.Run("a valid policy is stored, cached and recorded", func(t *testing.T) {
		got, err := h.svc.PutPolicy(ctx, tn.ID, custom, testActor)
		if err != nil || got != custom {
			t.Fatalf("PutPolicy = %+v, %v; want %+v", got, err, custom)
		}
		if p, err := h.svc.Policy(tn.ID); err != nil || p != custom {
			t.Fatalf("Policy = %+v, %v; want %+v", p, err, custom)
		}
		st, err := h.store.LoadState(ctx, tn.ID)
		if err != nil || st.Policy != custom {
			t.Fatalf("stored policy = %+v, %v", st.Policy, err)
		}
		h.MustEvents(t, tn.ID, ev(events.PolicyChanged))
	})
	t.Run("an invalid policy names every bad field and changes nothing", func(t *testing.T) {
		bad := custom
		bad.IdleTimeout, bad.OnLimit, bad.MaxDataBytes, bad.MinAAL = 7200, "drop", 0, 3
		bad.RememberMe = tenants.Lifetime{IdleTimeout: 600, AbsoluteTimeout: 0}
		bad.Impersonation = tenants.Lifetime{IdleTimeout: 601, AbsoluteTimeout: 600}
		_, err := h.svc.PutPolicy(ctx, tn.ID, bad, testActor)
		MustInvalidFields(t, err, "idle_timeout", "remember_me.absolute_timeout", "impersonation.idle_timeout", "on_limit", "max_data_bytes", "min_aal")
		if p, _ := h.svc.Policy(tn.ID); p != custom {
			t.Fatalf("policy = %+v, want it unchanged", p)
		}
		h.MustEvents(t, "")
	})
	t.Run("min_aal and impersonation left out (or stored before they existed) take their defaults", func(t *testing.T) {
		other, _, _ := h.MustTenant(t, "Other")
		p := custom
		p.MinAAL, p.Impersonation = 0, tenants.Lifetime{}
		got, err := h.svc.PutPolicy(ctx, other.ID, p, testActor)
		if err != nil || got.MinAAL != 1 || got.Impersonation != tenants.DefaultImpersonation() {
			t.Fatalf("PutPolicy = %+v, %v; want min_aal 1 and the default impersonation lifetime", got, err)
		}
		if p, _ := h.svc.Policy(other.ID); p.MinAAL != 1 {
			t.Fatalf("Policy = %+v, want min_aal 1", p)
		}
		h.MustEvents(t, other.ID, ev(events.PolicyChanged))
	})
	t.Run("an unknown tenant is not found", func(t *testing.T) {
		_, err := h.svc.PutPolicy(ctx, "tn_aaaaaaaaaaaaaaaa", custom, testActor)
		MustFault(t, err, fault.NotFound)
		_, err = h.svc.Policy("tn_aaaaaaaaaaaaaaaa")
		MustFault(t, err, fault.NotFound)
		h.MustEvents(t, "")
	})
}

// MustKey returns the kid key of the service's keyring view of tenantID.
func (h *harness) MustKey(tb testing.TB, tenantID, kid string) tenants.Key {
	tb.Helper()
	keys, err := h.svc.Keys(tenantID)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		if k.Secret != nil || k.SealedSecret != nil {
			tb.Errorf("Keys() exposes the secret of %s", k.ID)
		}
		if k.ID == kid {
			return k
		}
	}
	tb.Fatalf("key %s not in the keyring of %s", kid, tenantID)
	return tenants.Key{}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	grace := func(s int) *int { return &s }
	tests := []struct {
		name     string
		absolute int  // the tenant's absolute timeout
		grace    *int // nil: the default
		want     time.Duration
	}{
		{"without a grace period the old key retires after the absolute timeout", 7200, nil, 2 * time.Hour},
		{"an explicit grace period overrides the absolute timeout", 7200, grace(90), 90 * time.Second},
		{"a grace period of 400 days is allowed", 7200, grace(tenants.MaxGrace), tenants.MaxGrace * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := MustHarness(t)
			tn, _, _ := h.MustTenant(t, "Acme")
			p := tenants.DefaultPolicy()
			p.IdleTimeout, p.AbsoluteTimeout = 600, tt.absolute
			if _, err := h.svc.PutPolicy(ctx, tn.ID, p, testActor); err != nil {
				t.Fatal(err)
			}
			h.events.Take()
			old, _ := h.MustSnapshot(t, tn.ID).ActiveKey()

			h.clock.Advance(time.Minute)
			rotatedAt := h.clock.Now().UTC()
			next, err := h.svc.RotateKey(ctx, tn.ID, tt.grace, testActor)
			if err != nil {
				t.Fatal(err)
			}
			if next.State != tenants.KeyActive || next.ID == old.ID || !next.CreatedAt.Equal(rotatedAt) ||
				next.Secret != nil || next.SealedSecret != nil {
				t.Fatalf("RotateKey = %+v, want a new active key created at %v without its secret", next, rotatedAt)
			}
			h.MustEvents(t, tn.ID, ev(events.KeyRotated, "kid", next.ID))
			snap := h.MustSnapshot(t, tn.ID)
			if active, ok := snap.ActiveKey(); !ok || active.ID != next.ID || len(active.Secret) != tenants.KeySecretSize {
				t.Fatalf("cached active key = %s, want %s with its secret", active.ID, next.ID)
			}
			if keys, _ := h.svc.Keys(tn.ID); len(keys) != 2 || keys[0].ID != next.ID || keys[1].ID != old.ID {
				t.Fatalf("Keys() = %v, want the new key then the old one", keys)
			}

			retiresAt := rotatedAt.Add(tt.want)
			k := h.MustKey(t, tn.ID, old.ID)
			if k.State != tenants.KeyRetiring || k.RetiresAt == nil || !k.RetiresAt.Equal(retiresAt) || k.RetiredAt != nil {
				t.Fatalf("old key = %s retires %v, want retiring until %v", k.State, k.RetiresAt, retiresAt)
			}
			h.clock.Advance(tt.want - time.Second)
			if k := h.MustKey(t, tn.ID, old.ID); k.State != tenants.KeyRetiring {
				t.Fatalf("a second before its grace ends the old key is %s, want retiring", k.State)
			}
			h.clock.Advance(time.Second)
			k = h.MustKey(t, tn.ID, old.ID)
			if k.State != tenants.KeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(retiresAt) {
				t.Fatalf("when its grace ends the old key is %s retired at %v, want retired at %v", k.State, k.RetiredAt, retiresAt)
			}
			if k := h.MustKey(t, tn.ID, next.ID); k.State != tenants.KeyActive {
				t.Fatalf("the new key is %s, want active", k.State)
			}
		})
	}

	t.Run("a grace period of zero retires the old key at once", func(t *testing.T) {
		t.Parallel()
		h := MustHarness(t)
		tn, _, _ := h.MustTenant(t, "Acme")
		old, _ := h.MustSnapshot(t, tn.ID).ActiveKey()
		if _, err := h.svc.RotateKey(ctx, tn.ID, grace(0), testActor); err != nil {
			t.Fatal(err)
		}
		now := h.clock.Now().UTC()
		if k := h.MustKey(t, tn.ID, old.ID); k.State != tenants.KeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(now) {
			t.Fatalf("old key = %s retired at %v, want retired at %v", k.State, k.RetiredAt, now)
		}
	})

	t.Run("a grace period out of range is refused and the keyring is unchanged", func(t *testing.T) {
		t.Parallel()
		h := MustHarness(t)
		tn, _, _ := h.MustTenant(t, "Acme")
		for _, g := range []int{-1, tenants.MaxGrace + 1} {
			_, err := h.svc.RotateKey(ctx, tn.ID, grace(g), testActor)
			MustInvalidFields(t, err, "grace_period")
		}
		if keys, _ := h.svc.Keys(tn.ID); len(keys) != 1 || keys[0].State != tenants.KeyActive {
			t.Fatalf("keyring = %+v, want the one active key", keys)
		}
		h.MustEvents(t, "")
	})

	t.Run("an unknown tenant is not found", func(t *testing.T) {
		t.Parallel()
		h := MustHarness(t)
		_, err := h.svc.RotateKey(ctx, "tn_aaaaaaaaaaaaaaaa", nil, testActor)
		MustFault(t, err, fault.NotFound)
		_, err = h.svc.Keys("tn_aaaaaaaaaaaaaaaa")
		MustFault(t, err, fault.NotFound)
	})
}

func TestRetireKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	tn, _, _ := h.MustTenant(t, "Acme")
	first, _ := h.MustSnapshot(t, tn.ID).ActiveKey()
	second, err := h.svc.RotateKey(ctx, tn.ID, nil, testActor) // first retires in 8 h
	if err != nil {
		t.Fatal(err)
	}
	third, err := h.svc.RotateKey(ctx, tn.ID, nil, testActor) // second retires in 8 h
	if err != nil {
		t.Fatal(err)
	}
	rotatedAt := h.clock.Now().UTC()
	h.events.Take()

	t.Run("retiring the active key is a conflict and it stays active", func(t *testing.T) {
		_, err := h.svc.RetireKey(ctx, tn.ID, third.ID, testActor)
		MustFault(t, err, fault.Conflict)
		if k := h.MustKey(t, tn.ID, third.ID); k.State != tenants.KeyActive {
			t.Fatalf("active key is now %s", k.State)
		}
		h.MustEvents(t, "")
	})
	t.Run("retiring a retiring key retires it now, on this instance's cache too", func(t *testing.T) {
		h.clock.Advance(time.Hour)
		now := h.clock.Now().UTC()
		k, err := h.svc.RetireKey(ctx, tn.ID, second.ID, testActor)
		if err != nil {
			t.Fatal(err)
		}
		if k.ID != second.ID || k.State != tenants.KeyRetired || k.RetiredAt == nil || !k.RetiredAt.Equal(now) || k.Secret != nil || k.SealedSecret != nil {
			t.Fatalf("RetireKey = %+v, want %s retired at %v without its secret", k, second.ID, now)
		}
		cached, ok := h.MustSnapshot(t, tn.ID).Key(second.ID, now)
		if !ok || cached.State != tenants.KeyRetired || cached.Secret != nil {
			t.Fatalf("cached key = %s %v (secret %d bytes), want retired without a secret", cached.State, ok, len(cached.Secret))
		}
		h.MustEvents(t, tn.ID, ev(events.KeyRetired, "kid", second.ID))
	})
	t.Run("retiring a key whose grace already ended says it retired when the grace ended", func(t *testing.T) {
		h.clock.Advance(9 * time.Hour)
		k, err := h.svc.RetireKey(ctx, tn.ID, first.ID, testActor)
		if err != nil {
			t.Fatal(err)
		}
		// The first rotation gave the first key the default grace (8 h);
		// 10 h have passed since.
		if k.State != tenants.KeyRetired || k.RetiresAt == nil || k.RetiredAt == nil || !k.RetiredAt.Equal(*k.RetiresAt) {
			t.Fatalf("RetireKey = %+v, want retired at its retires_at", k)
		}
		if !k.RetiresAt.Equal(rotatedAt.Add(8 * time.Hour)) {
			t.Fatalf("retires_at = %v, want %v", *k.RetiresAt, rotatedAt.Add(8*time.Hour))
		}
		h.events.Take()
	})
	t.Run("an unknown kid is not found", func(t *testing.T) {
		_, err := h.svc.RetireKey(ctx, tn.ID, "k_aaaaaaaaaaaaaaaa", testActor)
		MustFault(t, err, fault.NotFound)
		h.MustEvents(t, "")
	})
	t.Run("another tenant's kid is not found", func(t *testing.T) {
		other, _, _ := h.MustTenant(t, "Other")
		_, err := h.svc.RotateKey(ctx, other.ID, nil, testActor)
		if err != nil {
			t.Fatal(err)
		}
		h.events.Take()
		_, err = h.svc.RetireKey(ctx, tn.ID, h.MustSnapshot(t, other.ID).Keys[1].ID, testActor)
		MustFault(t, err, fault.NotFound)
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	tn, first, firstSecret := h.MustTenant(t, "Acme")
	other, otherKey, _ := h.MustTenant(t, "Other")

	var sessionsOnly tenants.APIKey
	var sessionsSecret string
	t.Run("a key created with the sessions scope authenticates with that scope only", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		k, secret, err := h.svc.CreateAPIKey(ctx, tn.ID, "web", []tenants.Scope{tenants.ScopeSessions}, testActor)
		if err != nil {
			t.Fatal(err)
		}
		sessionsOnly, sessionsSecret = k, secret
		if k.TenantID != tn.ID || k.Name != "web" || !k.CreatedAt.Equal(h.clock.Now().UTC()) {
			t.Fatalf("key = %+v", k)
		}
		p, err := h.svc.Cache.Authenticate(secret)
		if err != nil {
			t.Fatal(err)
		}
		if p.TenantID != tn.ID || p.APIKeyID != k.ID || !p.Has(tenants.ScopeSessions) || p.Has(tenants.ScopeAdmin) {
			t.Fatalf("principal = %+v, want %s with sessions only", p, k.ID)
		}
		h.MustEvents(t, tn.ID, ev(events.APIKeyCreated, "api_key_id", k.ID))
	})
	t.Run("repeated scopes are stored once", func(t *testing.T) {
		k, _, err := h.svc.CreateAPIKey(ctx, tn.ID, "ops", []tenants.Scope{"admin", "admin", "sessions"}, testActor)
		if err != nil {
			t.Fatal(err)
		}
		st, err := h.store.LoadState(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sk := range st.APIKeys {
			if sk.ID == k.ID && !slices.Equal(sk.Scopes, []tenants.Scope{tenants.ScopeSessions, tenants.ScopeAdmin}) {
				t.Fatalf("stored scopes = %v, want [sessions admin]", sk.Scopes)
			}
		}
		h.events.Take()
	})
	t.Run("the listing shows the tenant's live keys, newest first", func(t *testing.T) {
		keys, err := h.svc.APIKeys(tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
			if !strings.HasPrefix(k.Prefix, tenants.APIKeySecretPrefix) {
				t.Errorf("key %s has prefix %q, want sk_…", k.ID, k.Prefix)
			}
		}
		if len(ids) != 3 || ids[1] != sessionsOnly.ID || ids[2] != first.ID {
			t.Fatalf("APIKeys = %v, want 3 keys ending %s, %s", ids, sessionsOnly.ID, first.ID)
		}
	})

	invalid := []struct {
		name   string
		key    string
		scopes []tenants.Scope
		field  string
	}{
		{"a key without scopes is refused", "x", nil, "scopes"},
		{"a key with an unknown scope is refused", "x", []tenants.Scope{"root"}, "scopes"},
		{"a key with a control character in its name is refused", "x\x00", []tenants.Scope{"admin"}, "name"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" and nothing is stored", func(t *testing.T) {
			_, secret, err := h.svc.CreateAPIKey(ctx, tn.ID, tt.key, tt.scopes, testActor)
			MustInvalidFields(t, err, tt.field)
			if keys, _ := h.svc.APIKeys(tn.ID); len(keys) != 3 || secret != "" {
				t.Fatalf("%d keys, secret %q after a refused create", len(keys), secret)
			}
			h.MustEvents(t, "")
		})
	}
	t.Run("a key for an unknown tenant is not found", func(t *testing.T) {
		_, _, err := h.svc.CreateAPIKey(ctx, "tn_aaaaaaaaaaaaaaaa", "x", []tenants.Scope{"admin"}, testActor)
		MustFault(t, err, fault.NotFound)
		h.MustEvents(t, "")
	})

	t.Run("a revoked key no longer authenticates, and the others still do", func(t *testing.T) {
		if err := h.svc.RevokeAPIKey(ctx, tn.ID, sessionsOnly.ID, testActor); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Cache.Authenticate(sessionsSecret); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("Authenticate with a revoked key = %v, want unauthorized", err)
		}
		if p, err := h.svc.Cache.Authenticate(firstSecret); err != nil || p.APIKeyID != first.ID {
			t.Fatalf("Authenticate with the first key = %+v, %v", p, err)
		}
		keys, _ := h.svc.APIKeys(tn.ID)
		for _, k := range keys {
			if k.ID == sessionsOnly.ID {
				t.Fatal("the revoked key is still listed")
			}
		}
		h.MustEvents(t, tn.ID, ev(events.APIKeyRevoked, "api_key_id", sessionsOnly.ID))
	})
	t.Run("revoking it again is not found", func(t *testing.T) {
		MustFault(t, h.svc.RevokeAPIKey(ctx, tn.ID, sessionsOnly.ID, testActor), fault.NotFound)
		h.MustEvents(t, "")
	})
	t.Run("revoking another tenant's key through this tenant is not found", func(t *testing.T) {
		MustFault(t, h.svc.RevokeAPIKey(ctx, tn.ID, otherKey.ID, testActor), fault.NotFound)
		if keys, _ := h.svc.APIKeys(other.ID); len(keys) != 1 {
			t.Fatalf("the other tenant has %d keys, want 1", len(keys))
		}
		h.MustEvents(t, "")
	})
	t.Run("malformed secrets are unauthorized", func(t *testing.T) {
		for _, s := range []string{"", "sk_", firstSecret + "x", strings.Replace(firstSecret, "sk_", "ak_", 1), firstSecret[:len(firstSecret)-1]} {
			if _, err := h.svc.Cache.Authenticate(s); !fault.Is(err, fault.Unauthorized) {
				t.Errorf("Authenticate(%q) = %v, want unauthorized", s, err)
			}
		}
	})
}

func TestAdmins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := MustHarness(t)
	sp, err := tenants.SystemPolicy(15*time.Minute, 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.EnsureSystemTenant(ctx, h.store, sp); err != nil {
		t.Fatal(err)
	}
	tn, _, _ := h.MustTenant(t, "Acme")
	other, _, _ := h.MustTenant(t, "Other")
	const password = "correct horse battery"

	var admin tenants.Admin
	t.Run("a new admin is stored with an argon2id hash and recorded", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		a, err := h.svc.CreateAdmin(ctx, tn.ID, "Ada@Acme.example", password, testActor)
		if err != nil {
			t.Fatal(err)
		}
		admin = a
		now := h.clock.Now().UTC()
		if !strings.HasPrefix(a.ID, tenants.AdminIDPrefix) || a.TenantID != tn.ID || a.Email != "Ada@Acme.example" ||
			!a.CreatedAt.Equal(now) || a.Role() != tenants.RoleAdmin {
			t.Fatalf("admin = %+v, want an ad_ admin of %s created %v", a, tn.ID, now)
		}
		if !strings.HasPrefix(a.PasswordHash, "$argon2id$") || strings.Contains(a.PasswordHash, password) {
			t.Fatalf("password hash = %q, want an argon2id hash", a.PasswordHash)
		}
		stored, err := h.svc.Admin(ctx, a.ID)
		if err != nil || stored != a {
			t.Fatalf("Admin(%s) = %+v, %v; want %+v", a.ID, stored, err, a)
		}
		h.MustEvents(t, tn.ID, ev(events.AdminCreated, "admin_id", a.ID, "email", "Ada@Acme.example"))
	})
	t.Run("an admin of the system tenant is an operator", func(t *testing.T) {
		op, err := h.svc.CreateAdmin(ctx, tenants.SystemTenantID, "op@sessiond.example", password, testActor)
		if err != nil {
			t.Fatal(err)
		}
		if op.Role() != tenants.RoleOperator {
			t.Fatalf("role = %s, want operator", op.Role())
		}
		h.events.Take()
	})

	refused := []struct {
		name     string
		tenantID string
		email    string
		password string
		code     fault.Code
		field    string
	}{
		{"the same email in another case is a conflict", tn.ID, "ada@acme.EXAMPLE", password, fault.Conflict, ""},
		{"the same email in another tenant is a conflict", other.ID, "ADA@ACME.EXAMPLE", password, fault.Conflict, ""},
		{"an email with a display name is invalid", tn.ID, "Ada <x@acme.example>", password, fault.InvalidRequest, "email"},
		{"a short password is invalid", tn.ID, "bob@acme.example", "short", fault.InvalidRequest, "password"},
		{"a common password is invalid", tn.ID, "bob@acme.example", "Password1234", fault.InvalidRequest, "password"},
		{"the admin's own email as the password is invalid", tn.ID, "bob@acme.example", "bob@acme.example", fault.InvalidRequest, "password"},
		{"an unknown tenant is not found", "tn_aaaaaaaaaaaaaaaa", "bob@acme.example", password, fault.NotFound, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name+" and nothing is stored", func(t *testing.T) {
			_, err := h.svc.CreateAdmin(ctx, tt.tenantID, tt.email, tt.password, testActor)
			fe := MustFault(t, err, tt.code)
			if tt.field != "" && !slices.Equal(fieldNames(fe), []string{tt.field}) {
				t.Errorf("fields = %v, want [%s]", fieldNames(fe), tt.field)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Error("the error repeats the password")
			}
			for _, id := range []string{tn.ID, other.ID} {
				if list, _ := h.svc.ListAdmins(ctx, id); (id == tn.ID && len(list) != 1) || (id == other.ID && len(list) != 0) {
					t.Errorf("tenant %s has %d admins", id, len(list))
				}
			}
			h.MustEvents(t, "")
		})
	}

	t.Run("an admin signs in with their email in any case", func(t *testing.T) {
		a, err := h.svc.AuthenticateAdmin(ctx, "ADA@acme.example", password)
		if err != nil || a.ID != admin.ID {
			t.Fatalf("AuthenticateAdmin = %s, %v; want %s", a.ID, err, admin.ID)
		}
		if got := h.svc.AdminTenantOf(ctx, "ada@ACME.example"); got != tn.ID {
			t.Errorf("AdminTenantOf = %s, want %s", got, tn.ID)
		}
	})
	t.Run("a wrong password and an unknown email get the same unauthorized error", func(t *testing.T) {
		_, wrong := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", password+"!")
		_, unknown := h.svc.AuthenticateAdmin(ctx, "nobody@acme.example", password)
		_, tooLong := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", strings.Repeat("p", tenants.MaxPasswordLen+1))
		for _, err := range []error{wrong, unknown, tooLong} {
			MustFault(t, err, fault.Unauthorized)
		}
		if wrong.Error() != unknown.Error() || wrong.Error() != tooLong.Error() {
			t.Fatalf("errors differ: %q, %q, %q", wrong, unknown, tooLong)
		}
		if got := h.svc.AdminTenantOf(ctx, "nobody@acme.example"); got != tenants.SystemTenantID {
			t.Errorf("AdminTenantOf(unknown) = %s, want the system tenant", got)
		}
	})
	t.Run("an admin of a suspended tenant is forbidden, with the right password only", func(t *testing.T) {
		if _, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Suspended)}, testActor); err != nil {
			t.Fatal(err)
		}
		defer func() {
			h.MustDrain(t)
			if _, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Active)}, testActor); err != nil {
				t.Fatal(err)
			}
			h.events.Take()
			h.purges.Take(0)
		}()
		_, err := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", password)
		MustFault(t, err, fault.Forbidden)
		_, err = h.svc.AuthenticateAdmin(ctx, "ada@acme.example", "wrong password!")
		MustFault(t, err, fault.Unauthorized)
	})

	t.Run("changing the password needs the current one", func(t *testing.T) {
		err := h.svc.ChangeAdminPassword(ctx, admin.ID, "not the password", "a brand new password", testActor)
		MustInvalidFields(t, err, "current_password")
		if _, err := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", password); err != nil {
			t.Fatalf("the old password stopped working after a refused change: %v", err)
		}
		h.MustEvents(t, "")
	})
	t.Run("a new password too short or weak is refused", func(t *testing.T) {
		for _, weak := range []string{"short", "aaaaaaaaaaaa", "qwertyuiop12", "ada@acme.example"} {
			err := h.svc.ChangeAdminPassword(ctx, admin.ID, password, weak, testActor)
			MustInvalidFields(t, err, "new_password")
		}
		h.MustEvents(t, "")
	})
	t.Run("a changed password replaces the old one", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		const next = "a brand new password"
		if err := h.svc.ChangeAdminPassword(ctx, admin.ID, password, next, testActor); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", password); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("the old password = %v, want unauthorized", err)
		}
		a, err := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", next)
		if err != nil {
			t.Fatalf("the new password = %v", err)
		}
		if !a.UpdatedAt.Equal(h.clock.Now().UTC()) {
			t.Errorf("updated_at = %v, want %v", a.UpdatedAt, h.clock.Now().UTC())
		}
		h.MustEvents(t, tn.ID, ev(events.AdminPasswordChanged, "admin_id", admin.ID))
	})
	t.Run("changing the password of an unknown admin is not found", func(t *testing.T) {
		MustFault(t, h.svc.ChangeAdminPassword(ctx, "ad_aaaaaaaaaaaaaaaa", password, "a brand new password", testActor), fault.NotFound)
	})

	t.Run("deleting an admin through another tenant is not found and ends no sessions", func(t *testing.T) {
		_, err := h.svc.DeleteAdmin(ctx, other.ID, admin.ID, testActor)
		MustFault(t, err, fault.NotFound)
		if ended := h.ended.Take(); len(ended) != 0 {
			t.Fatalf("ended the sessions of %v", ended)
		}
		h.MustEvents(t, "")
	})
	t.Run("operators cannot be deleted here", func(t *testing.T) {
		op, err := h.svc.AuthenticateAdmin(ctx, "op@sessiond.example", password)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.DeleteAdmin(ctx, tenants.SystemTenantID, op.ID, testActor)
		MustFault(t, err, fault.NotFound)
		if _, err := h.svc.Admin(ctx, op.ID); err != nil {
			t.Fatalf("the operator is gone: %v", err)
		}
		if ended := h.ended.Take(); len(ended) != 0 {
			t.Fatalf("ended the sessions of %v", ended)
		}
	})
	t.Run("deleting an admin ends their sessions, removes them and is recorded", func(t *testing.T) {
		a, err := h.svc.DeleteAdmin(ctx, tn.ID, admin.ID, testActor)
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != admin.ID || a.Email != admin.Email {
			t.Fatalf("DeleteAdmin returned %+v, want %s", a, admin.ID)
		}
		if ended := h.ended.Take(); !slices.Equal(ended, []string{admin.ID}) {
			t.Fatalf("ended the sessions of %v, want [%s]", ended, admin.ID)
		}
		if _, err := h.svc.Admin(ctx, admin.ID); !fault.Is(err, fault.NotFound) {
			t.Fatalf("Admin after delete = %v, want not found", err)
		}
		if _, err := h.svc.AuthenticateAdmin(ctx, "ada@acme.example", "a brand new password"); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("a deleted admin signs in: %v", err)
		}
		h.MustEvents(t, tn.ID, ev(events.AdminDeleted, "admin_id", admin.ID, "email", admin.Email))
	})
	t.Run("the email is free again after the delete", func(t *testing.T) {
		if _, err := h.svc.CreateAdmin(ctx, other.ID, "ada@acme.example", password, testActor); err != nil {
			t.Fatalf("re-using a deleted admin's email = %v", err)
		}
	})
}
