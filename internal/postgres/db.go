// Package postgres is sessiond's PostgreSQL adapter: the pgx/v5
// implementation of tenants.Store and events.Store, and the runner of the
// embedded schema migrations.
//
// Every error it returns is in sessiond's vocabulary (internal/fault): a
// missing row is fault.NotFound, a duplicate is fault.Conflict, an unreachable
// or overloaded database is fault.Unavailable, and anything else is an
// internal error that wraps the database's own.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sessiond/sessiond/migrations"
)

// DefaultConnectTimeout bounds each connection attempt when the database URL
// sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value DSN) and checks the connection. If the server reports that the
// database does not exist, Open creates it (connecting to the "postgres"
// database of the same server) and connects again. Runtime parameters in the
// URL, such as search_path, apply to every connection of the pool. A
// connection failure is a fault.Unavailable error; the caller closes the pool.
// Each configure function adjusts the pool's configuration first (a query
// tracer, for one).
func Open(ctx context.Context, databaseURL string, configure ...func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	for _, f := range configure {
		f(cfg)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := connect(ctx, cfg)
	if isCode(err, codeInvalidCatalogName) {
		if err := createDatabase(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
		pool, err = connect(ctx, cfg)
	}
	if err != nil {
		return nil, mapErr(err, "connect", "database")
	}
	return pool, nil
}

// connect makes a pool and proves that it can reach the database.
func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// createDatabase creates the database named by cfg through the server's
// "postgres" database. Another instance creating it at the same moment is
// not an error.
func createDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	name := cfg.Database
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return mapErr(err, "connect to create database", "database")
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !isCode(err, codeDuplicateDatabase) && !isCode(err, codeUniqueViolation) {
		return mapErr(err, "create database "+name, "database")
	}
	return nil
}

// Migration directions accepted by Migrate.
const (
	Up   = "up"
	Down = "down"
)

// Migrate applies the embedded migrations in direction Up (to the latest
// version) or Down (all the way, dropping every table they made). Being
// already there is success. The tables and golang-migrate's
// schema_migrations table land in the first existing schema of the pool's
// search_path. Migrate holds a PostgreSQL advisory lock while it works, so
// several instances may migrate the same database at once. Cancelling ctx
// stops after the migration in progress.
func Migrate(ctx context.Context, pool *pgxpool.Pool, direction string) (err error) {
	if direction != Up && direction != Down {
		return fmt.Errorf("postgres: migrate: direction must be %q or %q, not %q", Up, Down, direction)
	}
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return mapErr(err, "migrate: read current schema", "schema")
	}
	if schema == nil {
		return errors.New("postgres: migrate: no schema of the search_path exists; create it first")
	}

	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("postgres: migrate: read embedded migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool) // closing it leaves the pool open
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{SchemaName: *schema})
	if err != nil {
		_ = src.Close()
		_ = db.Close()
		return mapErr(fmt.Errorf("migrate: open driver: %w", err), "migrate", "schema")
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		_ = src.Close()
		_ = drv.Close()
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if err == nil && (srcErr != nil || dbErr != nil) {
			err = fmt.Errorf("postgres: migrate: close: %w", errors.Join(srcErr, dbErr))
		}
	}()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-done:
		}
	}()

	if direction == Up {
		err = m.Up()
	} else {
		err = m.Down()
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("postgres: migrate %s: %w", direction, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("postgres: migrate %s stopped: %w", direction, ctx.Err())
	}
	return nil
}

// MigrationVersion returns the schema version of the pool's current schema
// and whether a migration to it failed half-way (dirty). Version 0 means no
// migration is applied. It changes nothing.
func MigrationVersion(ctx context.Context, pool *pgxpool.Pool) (version uint, dirty bool, err error) {
	var v int64
	err = pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&v, &dirty)
	switch {
	case errors.Is(err, pgx.ErrNoRows), isCode(err, codeUndefinedTable):
		return 0, false, nil
	case err != nil:
		return 0, false, mapErr(err, "read migration version", "migration version")
	case v < 0:
		// golang-migrate records a failed first migration as version -1, dirty.
		return 0, dirty, nil
	}
	return uint(v), dirty, nil
}
