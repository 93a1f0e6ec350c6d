package tenants_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
)

// stallingStore is the real PostgreSQL store, except that while armed, a
// LoadState call reads the state and then waits to be released before it
// returns it: a reload that read an old state and is slow to apply it.
type stallingStore struct {
	*postgres.Store
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (s *stallingStore) LoadState(ctx context.Context, id string) (tenants.State, error) {
	st, err := s.Store.LoadState(ctx, id)
	if s.armed.CompareAndSwap(true, false) {
		close(s.read)
		<-s.release
	}
	return st, err
}

type quiet struct{}

func (quiet) Publish(context.Context, string) error       { return nil }
func (quiet) Subscribe(context.Context, tenants.Listener) {}
func (quiet) Record(events.Event)                         {}

// steady is a subscription that connects once and stays healthy: every
// notice published before the clock's time has been delivered (there are
// none). It lets a cache be confirmed current without Redis, for tests of
// what the cache holds in memory.
type steady struct{ now func() time.Time }

func (steady) Publish(context.Context, string) error { return nil }
func (s steady) Subscribe(ctx context.Context, l tenants.Listener) {
	l.Ready()
	l.Alive(s.now())
}

// confirmedCache runs c on a steady subscription until the test ends and
// waits until it is confirmed current.
func confirmedCache(t testing.TB, c *tenants.Cache, now func() time.Time) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx, steady{now: now})
	deadline := time.Now().Add(10 * time.Second)
	for !c.Confirmed() {
		if time.Now().After(deadline) {
			t.Fatal("the cache never became confirmed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A reload that read the store before a change must never be applied after
// one that read it after the change: a revoked API key would come back.
func TestCacheNeverAppliesAnOlderReloadLast(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := postgres.NewStore(pgtest.New(t))
	sealer, err := secrets.NewSealer(secrets.Random(32))
	if err != nil {
		t.Fatal(err)
	}
	writer := &tenants.Service{Store: store, Cache: tenants.NewCache(store, sealer, log, tenants.CacheOptions{}), Sealer: sealer,
		Notifier: quiet{}, Events: quiet{}, Log: log}
	tn, key, secret, err := writer.CreateTenant(ctx, "Acme", tenants.Actor{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}

	stalling := &stallingStore{Store: store, read: make(chan struct{}), release: make(chan struct{})}
	clock := testkit.NewClock()
	cache := tenants.NewCache(stalling, sealer, log, tenants.CacheOptions{Now: clock.Now})
	if err := cache.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	// Confirmed, so Authenticate below answers from memory.
	confirmedCache(t, cache, clock.Now)
	stalling.armed.Store(true)
	older := make(chan error, 1)
	go func() { older <- cache.Reload(ctx, tn.ID) }() // reads: the key is live
	<-stalling.read

	if err := writer.RevokeAPIKey(ctx, tn.ID, key.ID, tenants.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	newer := make(chan error, 1)
	go func() { newer <- cache.Reload(ctx, tn.ID) }() // the notice of the revocation
	select {
	case err := <-newer:
		// Without serialisation it applies now, and the older one after it.
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(100 * time.Millisecond):
		// Serialised: it waits for the older reload to finish.
	}
	close(stalling.release)
	if err := <-older; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-newer:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
	}
	if _, err := cache.Authenticate(secret); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("the revoked API key authenticates again after the reloads: %v", err)
	}
}

// BenchmarkAuthenticateConfirmed is the request path's cost while the
// cache is confirmed current: memory only, no database read.
func BenchmarkAuthenticateConfirmed(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := postgres.NewStore(pgtest.New(b))
	sealer, err := secrets.NewSealer(secrets.Random(32))
	if err != nil {
		b.Fatal(err)
	}
	clock := testkit.NewClock()
	cache := tenants.NewCache(store, sealer, log, tenants.CacheOptions{Now: clock.Now})
	svc := &tenants.Service{Store: store, Cache: cache, Sealer: sealer, Notifier: quiet{}, Events: quiet{}, Log: log}
	_, _, secret, err := svc.CreateTenant(ctx, "Acme", tenants.Actor{Name: "test"})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go cache.Run(runCtx, steady{now: clock.Now})
	for !cache.Confirmed() {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := cache.Authenticate(secret); err != nil {
			b.Fatal(err)
		}
	}
}
