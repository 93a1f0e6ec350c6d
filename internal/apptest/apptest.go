// Package apptest starts a whole sessiond (REST API and admin UI) for
// end-to-end tests: real PostgreSQL in a fresh schema, real Redis under a
// fresh key prefix, an injected clock and captured logs.
package apptest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/app"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/testkit"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// OperatorToken is the operator token of every test server.
const OperatorToken = "op_test_operator_token_0123456789abcdef"

// CheapPasswords keep argon2id fast under -race; production uses
// passwords.Default.
var CheapPasswords = passwords.Params{Memory: 256, Time: 1, Threads: 1}

// Options change what Start builds; zero values take the defaults.
type Options struct {
	DatabaseURL   string        // default: a fresh schema
	RedisURL      string        // default: the test Redis
	RedisCA       string        // CA file for rediss://
	Cluster       bool          // RedisURL names Redis Cluster seeds
	Prefix        string        // default: a fresh prefix, deleted at the end
	MasterKey     []byte        // default: random
	Refresh       time.Duration // default: an hour, so changes must arrive by pub/sub
	TLS           bool          // serve HTTPS with httptest's certificate
	Dev           bool          // serve --dev (admin UI over plain HTTP)
	AdminThrottle adminauth.Throttle
	// TrustedProxies are believed in X-Forwarded-For (default none).
	TrustedProxies []netip.Prefix
	// Ceilings are the deployment's default ceilings; unset fields take
	// tenants.DefaultLimits, except requests_per_second, which defaults to
	// its largest value so that tests and benchmarks under the stopped test
	// clock never reach it (rate-limit tests set a tenant's own).
	Ceilings tenants.Limits
	// TracerProvider traces the server (app.Options.TracerProvider); default none.
	TracerProvider trace.TracerProvider
	// WebhookAllowPrivate is SESSIOND_WEBHOOK_ALLOW_PRIVATE (receivers in
	// tests listen on 127.0.0.1).
	WebhookAllowPrivate bool
	// Webhooks tunes the webhook dispatcher (timeouts, poll).
	Webhooks webhooks.Options
}

// Server is a running sessiond.
type Server struct {
	Config config.Config
	Clock  *testkit.Clock
	Logs   *testkit.Buffer
	App    *app.App
	HTTP   *httptest.Server
	opts   Options
}

// Start builds and serves a sessiond; everything stops when the test ends.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = pgtest.NewURL(tb)
	}
	if o.RedisURL == "" {
		o.RedisURL = testkit.RedisURL()
	}
	if o.Prefix == "" {
		o.Prefix = testkit.Prefix(tb, testkit.Redis(tb))
	}
	if o.MasterKey == nil {
		o.MasterKey = secrets.Random(32)
	}
	if o.Refresh == 0 {
		o.Refresh = time.Hour
	}
	if o.Ceilings.RequestsPerSecond == 0 {
		o.Ceilings.RequestsPerSecond = 10_000_000
	}
	s := &Server{
		Config: config.Config{
			DatabaseURL: o.DatabaseURL, RedisURL: o.RedisURL, RedisCAFile: o.RedisCA, RedisCluster: o.Cluster,
			RedisPrefix: o.Prefix, OperatorToken: OperatorToken, MasterKey: o.MasterKey,
			MaxBodyBytes: 64 << 10, CacheRefresh: o.Refresh, LogLevel: "debug", Dev: o.Dev,
			TrustedProxies: o.TrustedProxies, EventSpoolMax: config.DefaultEventSpoolMax,
			Ceilings: o.Ceilings.OrDefault(), WebhookAllowPrivate: o.WebhookAllowPrivate,
		},
		Clock: testkit.NewClock(),
		Logs:  &testkit.Buffer{},
		opts:  o,
	}
	log := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.Open(ctx, s.Config, log, app.Options{
		Now: s.Clock.Now, Version: "test", Passwords: CheapPasswords, AdminThrottle: o.AdminThrottle,
		TracerProvider: o.TracerProvider,
		Webhooks:       o.Webhooks,
	})
	if err != nil {
		tb.Fatalf("starting sessiond: %v", err)
	}
	tb.Cleanup(a.Close)
	h, err := a.Handler()
	if err != nil {
		tb.Fatalf("handler: %v", err)
	}
	s.App = a
	if o.TLS {
		s.HTTP = httptest.NewTLSServer(h)
	} else {
		s.HTTP = httptest.NewServer(h)
	}
	tb.Cleanup(s.HTTP.Close)
	tb.Cleanup(a.CloseStreams) // before HTTP.Close, which waits for open streams
	return s
}

// Tenant is a tenant created for a test, with its first API key (scopes
// sessions and admin).
type Tenant struct{ ID, APIKey, Name string }

// CreateTenant creates a tenant through the tenant service, as the operator
// API does, failing the test on error.
func (s *Server) CreateTenant(tb testing.TB, name string) Tenant {
	tb.Helper()
	tn, _, secret, err := s.App.Tenants.CreateTenant(context.Background(), name, tenants.Actor{Name: "operator"})
	if err != nil {
		tb.Fatalf("create tenant %q: %v", name, err)
	}
	return Tenant{ID: tn.ID, APIKey: secret, Name: name}
}

// FlushEvents stores every security event recorded so far, so that tests
// can read them back from PostgreSQL.
func (s *Server) FlushEvents() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.App.Events.Flush(ctx)
}

// Sibling starts a second instance like s, sharing its database, Redis
// prefix and master key, as another replica would.
func (s *Server) Sibling(tb testing.TB) *Server {
	tb.Helper()
	o := s.opts
	o.DatabaseURL, o.RedisURL, o.RedisCA, o.Cluster = s.Config.DatabaseURL, s.Config.RedisURL, s.Config.RedisCAFile, s.Config.RedisCluster
	o.Prefix, o.MasterKey, o.Refresh, o.Dev = s.Config.RedisPrefix, s.Config.MasterKey, s.Config.CacheRefresh, s.Config.Dev
	o.WebhookAllowPrivate = s.Config.WebhookAllowPrivate
	return Start(tb, o)
}

// WaitPurged waits, generously, until the tenant's session purge job has
// completed, failing the test after a minute. It moves the server's clock
// past the backoff of any attempt that failed (2 s a step) and wakes the
// purge worker rather than waiting for its poll, so call it only where
// advancing the clock is harmless.
func (s *Server) WaitPurged(tb testing.TB, tenantID string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		job, err := s.App.Store.PurgeJob(context.Background(), tenantID)
		if err != nil {
			tb.Fatalf("purge job of %s: %v", tenantID, err)
		}
		if job.DoneAt != nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the session purge of %s did not complete: %+v", tenantID, job)
		}
		s.Clock.Advance(2 * time.Second)
		s.App.Purges.Wake()
		time.Sleep(50 * time.Millisecond)
	}
}
