// Package pgtest gives each test its own empty PostgreSQL schema, so tests
// run against the real database, in parallel, without seeing each other's
// rows. Tests fail (never skip) when PostgreSQL cannot be reached.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/postgres"
)

// EnvURL names the environment variable holding the base URL of the test
// database; DefaultURL is used when it is empty.
const (
	EnvURL     = "SESSIOND_TEST_DATABASE_URL"
	DefaultURL = "postgres://postgres@127.0.0.1:5432/sessiond_test?sslmode=disable"
)

// setupTimeout bounds creating and dropping a test schema.
const setupTimeout = 30 * time.Second

// NewURL creates a schema with a random name in the test database (creating
// the database if it is missing) and returns a postgres:// URL whose
// search_path is that schema alone. The schema is dropped, with everything in
// it, when the test ends. If PostgreSQL cannot be reached the test fails with
// a hint to start it with scripts/services.sh.
func NewURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("pgtest: %s must be a postgres:// URL", EnvURL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := postgres.Open(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: cannot reach PostgreSQL at %s (start it with scripts/services.sh, or set %s): %v", u.Redacted(), EnvURL, err)
	}
	defer pool.Close()

	schema := "test_" + randomHex(8)
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() { dropSchema(tb, base, schema) })

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// New returns a pool on a fresh, fully migrated schema (see NewURL). The
// pool is closed and the schema dropped when the test ends.
func New(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dbURL := NewURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		tb.Fatalf("pgtest: open test schema (start PostgreSQL with scripts/services.sh): %v", err)
	}
	tb.Cleanup(pool.Close) // runs before the schema is dropped
	if err := postgres.Migrate(ctx, pool, postgres.Up); err != nil {
		tb.Fatalf("pgtest: migrate up: %v", err)
	}
	return pool
}

func dropSchema(tb testing.TB, base, schema string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Errorf("pgtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		tb.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
