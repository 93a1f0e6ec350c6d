package postgres_test

import (
	"context"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4/source"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/migrations"
)

func TestEveryMigrationFileNameParsesAndHasBothDirections(t *testing.T) {
	t.Parallel()
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	directions := map[uint][]source.Direction{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m, err := source.Parse(e.Name())
		if err != nil {
			t.Errorf("migration file %q does not parse: %v", e.Name(), err)
			continue
		}
		directions[m.Version] = append(directions[m.Version], m.Direction)
	}
	if len(directions) == 0 {
		t.Fatal("no migrations are embedded")
	}
	for v, ds := range directions {
		if !slices.Contains(ds, source.Up) || !slices.Contains(ds, source.Down) {
			t.Errorf("migration %d has directions %v, want both up and down", v, ds)
		}
	}
}

func mustOpen(tb testing.TB, dbURL string) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func schemaOf(tb testing.TB, dbURL string) string {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Query().Get("search_path")
}

func tablesIn(tb testing.TB, pool *pgxpool.Pool, schema string) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, schema)
	if err != nil {
		tb.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

// latestMigration is the number of the newest file in migrations/.
var latestMigration = migrations.Latest()

func wantVersion(tb testing.TB, pool *pgxpool.Pool, want uint) {
	tb.Helper()
	v, dirty, err := postgres.MigrationVersion(context.Background(), pool)
	if err != nil {
		tb.Fatal(err)
	}
	if v != want || dirty {
		tb.Fatalf("migration version = %d (dirty %v), want %d (clean)", v, dirty, want)
	}
}

func TestMigrationsGoUpDownAndUpAgainInTheURLsSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.NewURL(t)
	schema := schemaOf(t, dbURL)
	pool := mustOpen(t, dbURL)

	wantVersion(t, pool, 0)
	all := []string{"admins", "api_keys", "events", "schema_migrations", "signing_keys", "tenant_purges", "tenants", "webhook_deliveries", "webhook_endpoints"}

	t.Run("up creates every table and schema_migrations in the search_path schema", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, postgres.Up); err != nil {
			t.Fatal(err)
		}
		wantVersion(t, pool, latestMigration)
		if got := tablesIn(t, pool, schema); !slices.Equal(got, all) {
			t.Fatalf("tables in %s = %v, want %v", schema, got, all)
		}
		if got := tablesIn(t, pool, "public"); slices.Contains(got, "tenants") || slices.Contains(got, "schema_migrations") {
			t.Fatalf("migrations leaked into public: %v", got)
		}
	})
	t.Run("up again is a no-op success", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, postgres.Up); err != nil {
			t.Fatal(err)
		}
		wantVersion(t, pool, latestMigration)
	})
	t.Run("down removes every table but schema_migrations", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, postgres.Down); err != nil {
			t.Fatal(err)
		}
		wantVersion(t, pool, 0)
		if got := tablesIn(t, pool, schema); !slices.Equal(got, []string{"schema_migrations"}) {
			t.Fatalf("tables after down = %v", got)
		}
	})
	t.Run("down again is a no-op success", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, postgres.Down); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("up after down recreates everything", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, postgres.Up); err != nil {
			t.Fatal(err)
		}
		wantVersion(t, pool, latestMigration)
		if got := tablesIn(t, pool, schema); !slices.Equal(got, all) {
			t.Fatalf("tables = %v, want %v", got, all)
		}
	})
	t.Run("an unknown direction is refused", func(t *testing.T) {
		if err := postgres.Migrate(ctx, pool, "sideways"); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestInstancesMayMigrateTheSameDatabaseAtOnce(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	const instances = 6
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		pool := mustOpen(t, dbURL)
		wg.Go(func() { errs[i] = postgres.Migrate(context.Background(), pool, postgres.Up) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	wantVersion(t, mustOpen(t, dbURL), latestMigration)
}

func TestOpenCreatesAMissingDatabase(t *testing.T) {
	t.Parallel()
	base := os.Getenv(pgtest.EnvURL)
	if base == "" {
		base = pgtest.DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := "sessiond_open_test_" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_"))
	u.Path = "/" + name
	admin := *u
	admin.Path = "/postgres"
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin.String())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})

	pool := mustOpen(t, u.String())
	var got string
	if err := pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != name {
		t.Fatalf("connected to %q, want %q", got, name)
	}
	// A second instance finds it there.
	mustOpen(t, u.String())
}

func TestOpenOnAClosedPortIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/sessiond?sslmode=disable")
	if err == nil {
		pool.Close()
	}
	wantCode(t, err, fault.Unavailable)
}
