// Package app wires sessiond together: PostgreSQL, Redis, the tenant cache,
// the event writer, the session engine and the HTTP API. The binary and the
// end-to-end tests build the same App.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessiond/sessiond/internal/admin"
	"github.com/sessiond/sessiond/internal/adminauth"
	"github.com/sessiond/sessiond/internal/attempts"
	"github.com/sessiond/sessiond/internal/changes"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/events/redisspool"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/tracing"
	"github.com/sessiond/sessiond/internal/web"
	"github.com/sessiond/sessiond/internal/webhooks"
)

// App is sessiond's wired core, shared by `serve`, the admin commands and
// the end-to-end tests.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Pool     *pgxpool.Pool
	Redis    redis.UniversalClient
	Store    *postgres.Store
	Cache    *tenants.Cache
	Notifier *redisconn.Notifier
	Events   *events.Writer
	// Metrics counts events and requests; GET /metrics shows them.
	Metrics  *metrics.Registry
	Tenants  *tenants.Service
	Sessions *sessions.Manager
	// Purges runs the tenants' session purge jobs (suspend, delete).
	Purges *tenants.PurgeWorker
	// Changes appends to the tenants' changes streams; Hub serves them
	// (GET /v1/changes), reading Redis through a client of its own.
	Changes  *changes.Log
	Hub      *changes.Hub
	hubRedis redis.UniversalClient
	// Webhooks manages endpoints; Dispatcher sends the outbox.
	Webhooks   *webhooks.Service
	Dispatcher *webhooks.Dispatcher
	Version    string

	stopBackground context.CancelFunc
	eventsDone     <-chan struct{}
	purgesDone     chan struct{}
	hooksDone      chan struct{}
	adminThrottle  adminauth.Throttle
	now            func() time.Time
	draining       atomic.Bool // set by StartDrain
	// tracer is the OpenTelemetry tracer provider; nil when tracing is off.
	tracer         trace.TracerProvider
	tracerShutdown func(context.Context) error
	dispatcher     atomic.Pointer[webhooks.Dispatcher]
}

// Options adjust an App for tests.
type Options struct {
	Now     func() time.Time // the clock; default time.Now
	Version string
	// Passwords are the argon2id parameters of new admin password hashes
	// (default passwords.Default; tests make them cheap).
	Passwords passwords.Params
	// AdminThrottle bounds failed admin sign-ins (default adminauth.Throttle{}).
	AdminThrottle adminauth.Throttle
	// EventsPerMinute is a tenant's ceiling of stored security events per
	// minute (0 unlimited); default: the tenant's events_per_minute ceiling
	// (SESSIOND_CEILING_EVENTS_PER_MINUTE unless the operator set its own).
	EventsPerMinute func(tenantID string) int
	// Webhooks tunes the webhook dispatcher (timeouts, workers, poll);
	// Now and AllowPrivate come from the App.
	Webhooks webhooks.Options
	// TracerProvider traces requests, Redis commands and SQL queries (tests
	// pass an in-memory one); default: the OTLP exporter when the OTEL_*
	// variables turn tracing on (config.Config.Tracing), else none.
	TracerProvider trace.TracerProvider
}

// eventWriterOptions configures the security event writer: the clock, the
// per-tenant ceiling, and the Redis spool (unless SESSIOND_EVENT_SPOOL_MAX
// is 0).
func (a *App) eventWriterOptions(o Options) events.WriterOptions {
	wo := events.WriterOptions{Now: o.Now, EventsPerMinute: o.EventsPerMinute}
	if wo.EventsPerMinute == nil {
		wo.EventsPerMinute = a.Cache.EventsPerMinute
	}
	if a.Config.EventSpoolMax > 0 {
		wo.Spool = redisspool.New(a.Redis, a.Config.RedisPrefix, a.Config.EventSpoolMax)
	}
	return wo
}

// kickWebhooks tells the dispatcher that stored events queued deliveries.
func (a *App) kickWebhooks() {
	if d := a.dispatcher.Load(); d != nil {
		d.Kick()
	}
}

// Open connects to PostgreSQL (creating the database and applying
// migrations) and Redis, loads every tenant into the cache, and starts the
// background work: the event writer, the cache's change listener and the
// session purge worker.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (*App, error) {
	a := &App{Config: cfg, Log: log, Version: o.Version, adminThrottle: o.AdminThrottle, now: o.Now}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	var err error
	a.tracer = o.TracerProvider
	if a.tracer == nil && cfg.Tracing {
		tp, err := tracing.NewProvider(ctx, o.Version)
		if err != nil {
			return nil, err
		}
		a.tracer, a.tracerShutdown = tp, tp.Shutdown
	}
	var pgOpts []func(*pgxpool.Config)
	if a.tracer != nil {
		pgOpts = append(pgOpts, func(c *pgxpool.Config) { c.ConnConfig.Tracer = tracing.PgxTracer(a.tracer) })
	}
	if a.Pool, err = postgres.Open(ctx, cfg.DatabaseURL, pgOpts...); err != nil {
		return nil, fmt.Errorf("PostgreSQL (DATABASE_URL): %w", err)
	}
	if err := postgres.Migrate(ctx, a.Pool, postgres.Up); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if a.Redis, err = redisconn.Open(redisconn.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster, CAFile: cfg.RedisCAFile}); err != nil {
		return nil, err
	}
	if a.tracer != nil {
		a.Redis.AddHook(tracing.RedisHook(a.tracer))
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.Redis.Ping(pingCtx).Err(); err != nil {
		return nil, fmt.Errorf("Redis (REDIS_URL) is not reachable: %w", err)
	}
	sealer, err := secrets.NewSealer(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("SESSIOND_MASTER_KEY: %w", err)
	}

	a.Store = postgres.NewStore(a.Pool, postgres.OnQueued(a.kickWebhooks))
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a.Cache = tenants.NewCache(a.Store, sealer, log, tenants.CacheOptions{
		StaleAfter: cfg.CacheStaleAfter, Refresh: cfg.CacheRefresh, Now: now,
	})
	a.Cache.SetDefaultLimits(cfg.Ceilings)
	if err := a.Cache.LoadAll(ctx); err != nil {
		if errors.Is(err, secrets.ErrUnseal) {
			return nil, masterKeyMismatch(cfg)
		}
		return nil, fmt.Errorf("loading tenants: %w", err)
	}
	a.Notifier = redisconn.NewNotifier(a.Redis, cfg.RedisPrefix, log, notifierOptions(cfg.CacheStaleAfter, now))
	a.Events = events.NewWriter(a.Store, log, a.eventWriterOptions(o))
	if err := a.openChanges(cfg, log); err != nil {
		return nil, err
	}
	a.Metrics = metrics.New(metrics.Options{Events: a.Events, Pool: a.Pool, Counters: a.changesCounters(), Gauges: []metrics.Gauge{{
		Name: "sessiond_changes_subscribers", Help: "GET /v1/changes streams open on this instance.",
		Value: func() float64 { return float64(a.Hub.Subscribers()) },
	}, {
		Name: "sessiond_tenants", Help: "Tenants in this instance's cache.",
		Value: func() float64 { return float64(a.Cache.Len()) },
	}, {
		Name: "sessiond_tenant_cache_confirmed", Help: "1 while this instance's tenant cache is confirmed current (SESSIOND_CACHE_STALE_AFTER), else 0: requests then read their tenant from PostgreSQL.",
		Value: func() float64 {
			if a.Cache.Confirmed() {
				return 1
			}
			return 0
		},
	}}})
	recorder := a.Metrics.Recorder(a.Events)
	a.Sessions = sessions.NewManager(redisstore.New(a.Redis, redisstore.Options{Prefix: cfg.RedisPrefix}), a.Cache, sessions.Options{
		Events: recorder, Now: o.Now, Log: log, Changes: a.Changes,
		GuessLimit: cfg.GuessLimit, GuessLimitPerCaller: cfg.GuessLimitPerCaller,
		OnThrottled: func(tenantID string, source sessions.GuessSource) {
			a.Metrics.GuessRefused(tenantID, string(source))
		},
	})
	if err := a.Sessions.LoadScripts(pingCtx); err != nil {
		return nil, fmt.Errorf("loading Redis scripts: %w", err)
	}
	a.Purges = tenants.NewPurgeWorker(a.Store, a.Sessions, log, o.Now)
	wo := o.Webhooks
	wo.Now, wo.AllowPrivate, wo.Observe = now, cfg.WebhookAllowPrivate, a.Metrics.WebhookAttempt
	a.Dispatcher = webhooks.NewDispatcher(a.Store, sealer, recorder, log, wo)
	a.dispatcher.Store(a.Dispatcher)
	a.Webhooks = &webhooks.Service{
		Store: a.Store, Sealer: sealer, MaxEndpoints: a.Cache.WebhookEndpoints,
		AllowPrivate: cfg.WebhookAllowPrivate, Now: now, Kick: a.Dispatcher.Kick,
	}
	a.Tenants = &tenants.Service{
		Store: a.Store, Cache: a.Cache, Sealer: sealer, Notifier: a.Notifier,
		Events: recorder, Purges: a.Purges, Log: log, Now: o.Now,
		Admins: a.Store, Passwords: o.Passwords, Changes: a.Changes,
		EndAdminSessions: func(ctx context.Context, adminID string) error {
			_, err := a.Sessions.RevokeUser(ctx, tenants.SystemTenantID, adminID, "", sessions.Meta{Actor: "system"})
			return err
		},
	}
	systemPolicy, err := tenants.SystemPolicy(cfg.AdminSessionTimeouts())
	if err != nil {
		return nil, err
	}
	if err := a.Tenants.EnsureSystemTenant(ctx, a.Store, systemPolicy); err != nil {
		return nil, fmt.Errorf("system tenant (admin UI sessions): %w", err)
	}

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopBackground = stop
	a.eventsDone = a.Events.Done()
	go a.Events.Run(bg)
	go a.Cache.Run(bg, a.Notifier)
	go a.Changes.Run(bg)
	a.purgesDone = make(chan struct{})
	go func() { defer close(a.purgesDone); a.Purges.Run(bg) }()
	a.hooksDone = make(chan struct{})
	go func() { defer close(a.hooksDone); a.Dispatcher.Run(bg) }()
	if cfg.EventRetention > 0 {
		go a.pruneEventsEvery(bg, time.Hour)
	}
	ok = true
	return a, nil
}

// masterKeyMismatch says in plain words what a master key that cannot
// open the keys stored in the database means, usually a routine mistake (a
// second checkout, a deleted data directory, another deployment's secret),
// and the two ways out.
func masterKeyMismatch(cfg config.Config) error {
	where := "the SESSIOND_MASTER_KEY (or SESSIOND_MASTER_KEY_FILE) it was first started with"
	if cfg.Dev {
		where = fmt.Sprintf("%s/master_key of the checkout that created it, or that value in SESSIOND_MASTER_KEY", cfg.DataDir)
	}
	return fmt.Errorf("this database was sealed with a different master key: the tenants' signing keys stored in it "+
		"cannot be opened with this SESSIOND_MASTER_KEY (nothing was changed). Use the key it was created with (%s), "+
		"or point DATABASE_URL at a new database", where)
}

// openChanges sets up the changes streams: the Log that appends to them and
// the Hub that serves them, with a Redis client of its own (every tenant
// with subscribers holds one of its connections in XREAD BLOCK).
func (a *App) openChanges(cfg config.Config, log *slog.Logger) error {
	var err error
	a.hubRedis, err = redisconn.Open(redisconn.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster, CAFile: cfg.RedisCAFile, PoolSize: hubPoolSize})
	if err != nil {
		return err
	}
	a.Changes = changes.NewLog(a.Redis, cfg.RedisPrefix, log)
	a.Hub = changes.NewHub(a.hubRedis, a.Changes, changes.HubOptions{MaxPerTenant: cfg.ChangesMaxStreams, Log: log})
	return nil
}

// hubPoolSize bounds the hub's Redis connections per node: one per tenant
// with subscribers on this instance, plus replays.
const hubPoolSize = 1000

// changesCounters are the changes streams' counters for GET /metrics.
func (a *App) changesCounters() []metrics.Gauge {
	return []metrics.Gauge{{
		Name: "sessiond_changes_frames_sent_total", Help: "Frames written to GET /v1/changes streams (changes, resets, ready, pings).",
		Value: func() float64 { return float64(a.Hub.FramesSent()) },
	}, {
		Name: "sessiond_changes_resets_total", Help: "reset frames sent on GET /v1/changes (the client had to drop its cache).",
		Value: func() float64 { return float64(a.Hub.Resets()) },
	}}
}

// CloseStreams ends every GET /v1/changes stream of this instance: at
// shutdown, so that the server's drain does not wait for them.
func (a *App) CloseStreams() {
	if a.Hub != nil {
		a.Hub.Close()
	}
}

// notifierOptions derive the subscription's watch from the staleness bound:
// PINGs at least four times within it (every 500 ms at most), and a
// subscription silent for the whole bound is made anew.
func notifierOptions(staleAfter time.Duration, now func() time.Time) redisconn.NotifierOptions {
	if staleAfter <= 0 {
		staleAfter = tenants.DefaultStaleAfter
	}
	return redisconn.NotifierOptions{Now: now, PingEvery: min(500*time.Millisecond, staleAfter/4), DeadAfter: staleAfter}
}

// Handler returns the process's one router: the admin UI under /admin,
// the REST API for every other path; around it the request id, the access
// log and the request metrics.
func (a *App) Handler() (http.Handler, error) {
	router := web.NewRouter()
	err := admin.Mount(router.Router, admin.Deps{
		Tenants: a.Tenants, Cache: a.Cache, Sessions: a.Sessions,
		Events: a.Metrics.Recorder(a.Events), EventStore: a.Store, Counter: a.Store, Webhooks: a.Webhooks,
		Log: a.Log, Now: a.now, TrustedProxies: a.Config.TrustedProxies, PublicOrigin: a.Config.PublicOrigin,
		Dev: a.Config.Dev, Throttle: a.adminThrottle,
		DeviceKey: secrets.Derive(a.Config.MasterKey, "sessiond admin known-device cookies"),
		NewLimiter: func(name string, limit int, window time.Duration) adminauth.Limiter {
			return attempts.New(a.Redis, a.Config.RedisPrefix, name, limit, window)
		},
	})
	if err != nil {
		return nil, err
	}
	err = httpapi.Mount(router.Router, httpapi.Deps{
		Tenants: a.Tenants, Cache: a.Cache, Sessions: a.Sessions, Events: a.Store, Changes: a.Hub, Webhooks: a.Webhooks,
		OperatorToken: a.Config.OperatorToken,
		Checks: map[string]httpapi.Check{
			"postgres": func(ctx context.Context) error { return a.Pool.Ping(ctx) },
			"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
		},
		Log: a.Log, TrustedProxies: a.Config.TrustedProxies, MaxBodyBytes: a.Config.MaxBodyBytes,
		Version: a.Version, Draining: a.Draining,
		Metrics: a.Metrics.WriteText,
		Now:     a.now,
		Idempotency: httpapi.Idempotency{
			Redis: a.Redis, Prefix: a.Config.RedisPrefix,
			Secret: secrets.Derive(a.Config.MasterKey, "sessiond idempotency answers"),
		},
	})
	if err != nil {
		return nil, err
	}
	surface := func(r *http.Request) string {
		if admin.Owns(r) {
			return "admin"
		}
		return "api"
	}
	h := a.Metrics.Middleware(surface, router)
	if a.tracer != nil { // off: not even a no-op span per request
		h = tracing.Middleware(a.tracer, h)
	}
	return web.WithRequestID(web.WithAccessLog(a.Log, h)), nil
}

// StartDrain marks this instance as going away: from now on /readyz answers
// 503 "draining" (so load balancers stop sending it traffic) while every
// other route is served as before. It cannot be undone.
func (a *App) StartDrain() { a.draining.Store(true) }

// Draining reports whether StartDrain was called.
func (a *App) Draining() bool { return a.draining.Load() }

// PruneEvents deletes the security events older than the retention
// (SESSIOND_EVENT_RETENTION) and returns how many. Replicas take turns: one
// prunes while the others skip.
func (a *App) PruneEvents(ctx context.Context) (int64, error) {
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	return a.Store.PruneEvents(ctx, now().Add(-a.Config.EventRetention), 10000)
}

func (a *App) pruneEventsEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := a.PruneEvents(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.Log.Warn("pruning old security events failed; will retry", slog.String("error", err.Error()))
		case n > 0:
			a.Log.Info("pruned old security events", slog.Int64("deleted", n), slog.Duration("retention", a.Config.EventRetention))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops the background work (a purge in progress stops where it is;
// its lease runs out and another instance resumes it), stores pending
// security events and closes the connections.
func (a *App) Close() {
	if a.stopBackground != nil {
		a.stopBackground()
		<-a.eventsDone
		if a.purgesDone != nil {
			<-a.purgesDone
		}
		if a.hooksDone != nil {
			<-a.hooksDone
		}
	}
	if a.Sessions != nil {
		a.Sessions.Wait() // bulk revocations still deleting their sessions
	}
	a.CloseStreams()
	if a.hubRedis != nil {
		_ = a.hubRedis.Close()
	}
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
	if a.tracerShutdown != nil { // flush the last spans
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.tracerShutdown(ctx)
	}
}
