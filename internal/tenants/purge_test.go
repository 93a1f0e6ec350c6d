package tenants_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// purgeHarness is a harness whose purges end real sessions on the test
// Redis (its own prefix), through the session engine.
type purgeHarness struct {
	*harness
	engine *sessions.Manager
	keys   func() []string
}

func mustPurgeHarness(tb testing.TB) *purgeHarness {
	tb.Helper()
	h := MustHarness(tb)
	rdb := testkit.Redis(tb)
	prefix := testkit.Prefix(tb, rdb)
	engine := sessions.NewManager(redisstore.New(rdb, redisstore.Options{Prefix: prefix}), h.svc.Cache, sessions.Options{Now: h.clock.Now})
	return &purgeHarness{harness: h, engine: engine, keys: func() []string { return testkit.ScanKeys(tb, rdb, prefix+":*") }}
}

// worker returns a purge worker of another "instance" over the same
// database and Redis, purging through purger.
func (h *purgeHarness) worker(purger tenants.SessionPurger) *tenants.PurgeWorker {
	return tenants.NewPurgeWorker(h.store, purger, slog.New(slog.NewTextHandler(io.Discard, nil)), h.clock.Now)
}

// stallAfterFirstBatch purges one batch, records it, and then hangs until
// its context ends, as an instance that dies mid-job would.
type stallAfterFirstBatch struct {
	engine  *sessions.Manager
	stalled chan struct{}
}

func (s stallAfterFirstBatch) PurgeTenant(ctx context.Context, id string, from int, progress func(int) error) error {
	once := sync.Once{}
	return s.engine.PurgeTenant(ctx, id, from, func(next int) error {
		if err := progress(next); err != nil {
			return err
		}
		once.Do(func() { close(s.stalled) })
		<-ctx.Done()
		return ctx.Err()
	})
}

// recordFrom purges through the engine and records where each purge began.
type recordFrom struct {
	engine *sessions.Manager
	from   []int
}

func (r *recordFrom) PurgeTenant(ctx context.Context, id string, from int, progress func(int) error) error {
	r.from = append(r.from, from)
	return r.engine.PurgeTenant(ctx, id, from, progress)
}

// An instance that claims a purge job and dies in the middle of it leaves
// the job pending with its progress; once the claim's lease has ended,
// another instance's worker takes it over from the recorded bucket and
// completes it.
func TestAPurgeWhoseInstanceDiesIsFinishedByAnother(t *testing.T) {
	ctx := context.Background()
	h := mustPurgeHarness(t)
	tn, _, _ := h.MustTenant(t, "Acme")
	for i := range 300 {
		if _, err := h.engine.Create(ctx, tn.ID, sessions.CreateParams{UserID: fmt.Sprintf("user%d", i)}, sessions.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Suspended)}, testActor); err != nil {
		t.Fatal(err)
	}

	dying := stallAfterFirstBatch{engine: h.engine, stalled: make(chan struct{})}
	one := h.worker(dying)
	oneCtx, die := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = one.Drain(oneCtx) }()
	select {
	case <-dying.stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the first worker never purged a batch")
	}
	die()
	<-done
	job := h.MustPurgeJob(t, tn.ID)
	if job.DoneAt != nil || job.NextBucket != 64 {
		t.Fatalf("after the first worker died: %+v, want pending at bucket 64", job)
	}
	if len(h.keys()) == 0 {
		t.Fatal("the first batch purged every session: the test proves nothing")
	}

	second := &recordFrom{engine: h.engine}
	two := h.worker(second)
	if err := two.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(second.from) != 0 {
		t.Fatalf("the second worker took a job whose lease is still running (from %v)", second.from)
	}
	h.clock.Advance(tenants.DefaultPurgeLease)
	if err := two.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(second.from) != 1 || second.from[0] != 64 {
		t.Fatalf("the second worker purged from %v, want [64]", second.from)
	}
	if job := h.MustPurgeJob(t, tn.ID); job.DoneAt == nil || job.NextBucket != sessions.NumBuckets {
		t.Fatalf("after the takeover: %+v, want done", job)
	}
	if left := h.keys(); len(left) != 0 {
		t.Fatalf("%d keys left after the purge", len(left))
	}
	if _, err := h.svc.UpdateTenant(ctx, tn.ID, tenants.TenantPatch{Status: testkit.Ptr(tenants.Active)}, testActor); err != nil {
		t.Fatalf("resume after the purge: %v", err)
	}
}

// failOnce fails its first purge, then purges through the engine.
type failOnce struct {
	engine *sessions.Manager
	failed bool
}

func (f *failOnce) PurgeTenant(ctx context.Context, id string, from int, progress func(int) error) error {
	if !f.failed {
		f.failed = true
		return fmt.Errorf("redis: connection refused")
	}
	return f.engine.PurgeTenant(ctx, id, from, progress)
}

// A failed attempt is recorded with its error and retried after its
// backoff; a deleted tenant's job outlives the tenant.
func TestAFailedPurgeIsRetriedAfterItsBackoff(t *testing.T) {
	ctx := context.Background()
	h := mustPurgeHarness(t)
	tn, _, _ := h.MustTenant(t, "Acme")
	if err := h.svc.DeleteTenant(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	w := h.worker(&failOnce{engine: h.engine})
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	job := h.MustPurgeJob(t, tn.ID)
	if job.DoneAt != nil || job.Attempts != 1 || job.LastError != "redis: connection refused" || job.Reason != tenants.PurgeDelete {
		t.Fatalf("after a failed attempt: %+v", job)
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if job := h.MustPurgeJob(t, tn.ID); job.DoneAt != nil {
		t.Fatal("retried before the backoff ended")
	}
	h.clock.Advance(2 * time.Second)
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if job := h.MustPurgeJob(t, tn.ID); job.DoneAt == nil || job.LastError != "" {
		t.Fatalf("after the retry: %+v, want done", job)
	}
}
