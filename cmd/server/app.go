package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
)

// app is sessiond's wired core, shared by `serve` and the admin commands.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	rdb      redis.UniversalClient
	store    *postgres.Store
	cache    *tenants.Cache
	notifier *redisconn.Notifier
	events   *events.Writer
	tenants  *tenants.Service
	sessions *sessions.Manager

	stopEvents context.CancelFunc
}

// openApp connects to PostgreSQL (creating the database and applying
// migrations) and Redis, and loads every tenant into the cache.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()

	var err error
	if a.pool, err = postgres.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("PostgreSQL (DATABASE_URL): %w", err)
	}
	if err := postgres.Migrate(ctx, a.pool, "up"); err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	if a.rdb, err = redisconn.Open(redisconn.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster, CAFile: cfg.RedisCAFile}); err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := a.rdb.Ping(pingCtx).Err(); err != nil {
		return nil, fmt.Errorf("Redis (REDIS_URL) is not reachable: %w", err)
	}
	sealer, err := secrets.NewSealer(cfg.MasterKey)
	if err != nil {
		return nil, fmt.Errorf("SESSIOND_MASTER_KEY: %w", err)
	}

	a.store = postgres.NewStore(a.pool)
	a.cache = tenants.NewCache(a.store, sealer, log)
	if err := a.cache.LoadAll(ctx); err != nil {
		return nil, fmt.Errorf("loading tenants: %w", err)
	}
	a.notifier = redisconn.NewNotifier(a.rdb, cfg.RedisPrefix, log)
	a.events = events.NewWriter(a.store, log, events.WriterOptions{})
	evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
	a.stopEvents = stopEvents
	go a.events.Run(evCtx)

	a.sessions = sessions.NewManager(a.rdb, a.cache, sessions.Options{Prefix: cfg.RedisPrefix, Events: a.events})
	a.tenants = &tenants.Service{
		Store: a.store, Cache: a.cache, Sealer: sealer, Notifier: a.notifier,
		Events: a.events, Purger: a.sessions, Log: log,
	}
	ok = true
	return a, nil
}

// close flushes pending security events and closes connections.
func (a *app) close() {
	if a.stopEvents != nil {
		a.stopEvents()
		<-a.events.Done()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
}
