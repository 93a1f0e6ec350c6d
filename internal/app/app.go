// Package app wires sessiond together: PostgreSQL, Redis, the tenant cache,
// the event writer, the session engine and the HTTP API. The binary and the
// end-to-end tests build the same App.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/admin"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/limits"
	"github.com/sessiond/sessiond/internal/metrics"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
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
	Version  string

	stopBackground context.CancelFunc
	eventsDone     <-chan struct{}
	adminLimits    admin.LoginLimits
	now            func() time.Time
}

// Options adjust an App for tests.
type Options struct {
	Now     func() time.Time // the clock; default time.Now
	Version string
	// Passwords are the argon2id parameters of new admin password hashes
	// (default passwords.Default; tests make them cheap).
	Passwords passwords.Params
	// AdminLimits bound failed admin sign-ins (default admin.LoginLimits{}).
	AdminLimits admin.LoginLimits
}

// Open connects to PostgreSQL (creating the database and applying
// migrations) and Redis, loads every tenant into the cache, and starts the
// background work: the event writer and the cache's change listener.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (*App, error) {
	a := &App{Config: cfg, Log: log, Version: o.Version, adminLimits: o.AdminLimits, now: o.Now}
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()

	var err error
	if a.Pool, err = postgres.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("PostgreSQL (DATABASE_URL): %w", err)
	}
	if err := postgres.Migrate(ctx, a.Pool, postgres.Up); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if a.Redis, err = redisconn.Open(redisconn.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster, CAFile: cfg.RedisCAFile}); err != nil {
		return nil, err
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

	a.Store = postgres.NewStore(a.Pool)
	a.Cache = tenants.NewCache(a.Store, sealer, log)
	a.Cache.SetDefaultLimits(cfg.Ceilings)
	if err := a.Cache.LoadAll(ctx); err != nil {
		return nil, fmt.Errorf("loading tenants: %w", err)
	}
	a.Notifier = redisconn.NewNotifier(a.Redis, cfg.RedisPrefix, log)
	a.Events = events.NewWriter(a.Store, log, events.WriterOptions{})
	a.Metrics = metrics.New(metrics.Options{Events: a.Events, Pool: a.Pool, Gauges: []metrics.Gauge{{
		Name: "sessiond_tenants", Help: "Tenants in this instance's cache.",
		Value: func() float64 { return float64(a.Cache.Len()) },
	}}})
	recorder := a.Metrics.Recorder(a.Events)
	a.Sessions = sessions.NewManager(redisstore.New(a.Redis, redisstore.Options{Prefix: cfg.RedisPrefix}), a.Cache, sessions.Options{
		Events: recorder, Now: o.Now,
		GuessLimit: cfg.GuessLimit, GuessLimitPerCaller: cfg.GuessLimitPerCaller,
		OnThrottled: func(tenantID string, source sessions.GuessSource) {
			a.Metrics.GuessRefused(tenantID, string(source))
		},
	})
	if err := a.Sessions.LoadScripts(pingCtx); err != nil {
		return nil, fmt.Errorf("loading Redis scripts: %w", err)
	}
	a.Tenants = &tenants.Service{
		Store: a.Store, Cache: a.Cache, Sealer: sealer, Notifier: a.Notifier,
		Events: recorder, Purger: a.Sessions, Log: log, Now: o.Now,
		Admins: a.Store, Passwords: o.Passwords,
		EndAdminSessions: func(ctx context.Context, adminID string) error {
			_, err := a.Sessions.RevokeUser(ctx, tenants.SystemTenantID, adminID, "", sessions.Meta{Actor: "system"})
			return err
		},
	}
	idle, abs := cfg.AdminIdle, cfg.AdminAbsolute
	if idle <= 0 {
		idle = 15 * time.Minute
	}
	if abs <= 0 {
		abs = 8 * time.Hour
	}
	systemPolicy, err := tenants.SystemPolicy(idle, abs)
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
	go a.Cache.Run(bg, a.Notifier, cfg.CacheRefresh)
	if cfg.EventRetention > 0 {
		go a.pruneEventsEvery(bg, time.Hour)
	}
	ok = true
	return a, nil
}

// Handler returns the HTTP API, with the admin UI under /admin.
func (a *App) Handler() (http.Handler, error) {
	api, err := httpapi.New(httpapi.Deps{
		Tenants: a.Tenants, Cache: a.Cache, Sessions: a.Sessions, Events: a.Store,
		OperatorToken: a.Config.OperatorToken,
		Checks: map[string]httpapi.Check{
			"postgres": func(ctx context.Context) error { return a.Pool.Ping(ctx) },
			"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
		},
		Log: a.Log, TrustedProxies: a.Config.TrustedProxies, MaxBodyBytes: a.Config.MaxBodyBytes,
		Version: a.Version,
		Metrics: a.Metrics.WriteText,
		Now:     a.now,
	})
	if err != nil {
		return nil, err
	}
	ui, err := admin.New(admin.Deps{
		Tenants: a.Tenants, Cache: a.Cache, Sessions: a.Sessions,
		Events: a.Metrics.Recorder(a.Events), EventStore: a.Store, Counter: a.Store,
		Log: a.Log, Now: a.now, TrustedProxies: a.Config.TrustedProxies, PublicOrigin: a.Config.PublicOrigin,
		Dev: a.Config.Dev, Limits: a.adminLimits,
		NewLimiter: func(name string, limit int, window time.Duration) admin.Limiter {
			return limits.New(a.Redis, a.Config.RedisPrefix, name, limit, window)
		},
	})
	if err != nil {
		return nil, err
	}
	surface := func(r *http.Request) string {
		if r.URL.Path == "/admin" || strings.HasPrefix(r.URL.Path, "/admin/") {
			return "admin"
		}
		return "api"
	}
	// A plain prefix split, not an http.ServeMux: ServeMux cleans paths and
	// redirects, which would turn /v1/users/../sessions into /v1/sessions.
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if surface(r) == "admin" {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	return web.WithRequestID(web.WithAccessLog(a.Log, a.Metrics.Middleware(surface, mux))), nil
}

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

// Close stops the background work, stores pending security events and
// closes the connections.
func (a *App) Close() {
	if a.stopBackground != nil {
		a.stopBackground()
		<-a.eventsDone
	}
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
}
